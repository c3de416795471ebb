"""The sign-off service: what a physician does to a posted draft, for the worklist's buttons and the
``rtletter review`` CLI alike, and the decisions the EHR follower finds (see the package docstring for the API).

Arguments come in one order everywhere: which draft, who, then what (``sign(job_id, user, text)``). Every refusal
is ``ReviewRefused`` with a message for the user. The service writes the audit, once per action (actor
``user:<name>``), in the transaction of the change it records; a refused action is audited as "<action> refused".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from rtletter.agent.channels.base import Draft
from rtletter.agent.errors import AgentError, ChannelError, JobStoreError, ReviewRefused
from rtletter.agent.jobs.job import Flag, Job, Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import fact_check_meta, wording_meta
from rtletter.agent.review.post import SignOff, poster_for
from rtletter.agent.review.store import review_store
from rtletter.mappers.case import Case
from rtletter.mappers.draft import finish_draft
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.prompt import build_messages
from rtletter.mappers.scaffold import Site
from rtletter.model.backends.base import Generation, Message, Samples
from rtletter.model.evaluate.facts import check_draft
from rtletter.model.redraft import best

VIA = "worklist"  # ``decided_via`` of a physician's decision taken through the service (the CLI's too, as before)


class Reviewer(Protocol):
    """Who acts: the worklist's ``User`` fits (``name``, ``practitioner``; read-only, as on its frozen dataclass)."""

    @property
    def name(self) -> str: ...

    @property
    def practitioner(self) -> str | None: ...


def _actor(user: Reviewer) -> str:
    return f"user:{user.name}"


def _case(job: Job) -> Case:
    return Case.model_validate_json(job.case_json or "")


def _channel_error(exc: ChannelError) -> ReviewRefused:
    # Channel messages name method, resource type and status only (no PHI): safe to show.
    return ReviewRefused(f"The {exc.channel or 'channel'} did not take it: {exc}. Nothing was changed; try again.")


class ReviewService:
    """The review actions on the agent's channels (``channels[job.channel]`` carries a decision) and generator.

    Args:
        store: the job store; the review tables are created on it at first use.
        channels: the running agent's channels by name; a decision on a job of a channel missing here is refused.
        generator: the agent's generator, for ``regenerate`` (None: regeneration is refused).
        max_prompt_tokens, max_new_tokens: as the worker's (``model`` settings).
        redraft: sampled drafts a regeneration chooses from (``model.redraft``); 0, or a backend that cannot
            sample: one greedy draft.
        site_words: the adapter's word list, for the wording check (``ModelSettings.site_words``).
    """

    def __init__(
        self,
        store: JobStore,
        channels: Mapping[str, Any] | None = None,
        *,
        generator: Any = None,
        max_prompt_tokens: int = 3072,
        max_new_tokens: int = 1024,
        site: Site | None = None,
        fact_slots: bool = False,
        redraft: int = 0,
        site_words: frozenset[str] | None = None,
    ) -> None:
        self.store = store
        self.redraft = redraft
        self.site_words = site_words
        self.fact_slots = fact_slots  # as the worker's (model.fact_slots)
        self.reviews = review_store(store)
        self.channels: Mapping[str, Any] = channels if channels is not None else {}
        self.generator = generator
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.site = site  # a regenerated draft gets the same letter around it as the worker's (model.scaffold)

    # --- reading ------------------------------------------------------------------------------------------------------

    def current_text(self, job_id: int) -> str | None:
        """The text the physician sees: the last saved edit, else the draft."""
        job = self.store.get_job(job_id)
        if job is None:
            return None
        return self.reviews.get(job_id).current_text or job.draft_text

    # --- the physician's actions --------------------------------------------------------------------------------------

    def save_edit(self, job_id: int, user: Reviewer, text: str) -> None:
        """Store ``text`` as the draft's current text (edit history kept); the draft stays preliminary."""
        with self._refusal_audited(job_id, user, "edit"):
            self._open_job(job_id, "edited")
            if not text.strip():
                raise ReviewRefused("The letter text is empty.")
            try:
                saved = self._save_edit(job_id, user, text)
            except JobStoreError as exc:
                raise ReviewRefused("This draft can no longer be edited.") from exc
            if not saved:
                raise ReviewRefused("This draft can no longer be edited.")

    def sign(
        self,
        job_id: int,
        user: Reviewer,
        text: str | None = None,
        *,
        acknowledge_course_change: bool = False,
        acknowledge_findings: bool = False,
    ) -> Job:
        """Sign ``text`` (default: the current text): final document with the user as authenticator, Task completed.
        Returns the signed job.

        A draft whose course changed after drafting is refused unless ``acknowledge_course_change``; a text that the
        fact check finds contradicting the source (a wrong dose, date, code, side, grade, a value in the wrong role)
        unless ``acknowledge_findings``, and that acknowledgement is audited."""
        with self._refusal_audited(job_id, user, "sign"):
            channel = self._channel(job_id)
            job = self._open_job(job_id, "signed")
            if Flag.course_updated_after_draft in job.flags and not acknowledge_course_change:
                raise ReviewRefused(
                    "The course changed after this draft was written. Regenerate it, or confirm that you checked the "
                    "changes."
                )
            state = self.reviews.get(job_id)
            text = text if text is not None else (state.current_text or job.draft_text or "")
            if not text.strip():
                raise ReviewRefused("The letter text is empty.")
            contradicted = check_draft(_case(job), text).contradicted
            if contradicted and not acknowledge_findings:
                raise ReviewRefused(
                    f"The fact check finds {contradicted} statement{'s' if contradicted != 1 else ''} contradicting "
                    "the source data. Correct the letter, or confirm that you checked the findings."
                )
            poster = poster_for(channel)
            with self._deciding(job_id, user):
                now = self.store.clock()
                if contradicted:
                    what = f"draft {job_id}: {contradicted} contradicted fact-check finding(s) acknowledged at signing"
                    self.store.audit(_actor(user), "acknowledge", "draft", job.key, what)
                signoff = SignOff(
                    text=text,
                    user=user.name,
                    practitioner=user.practitioner,
                    at=now,
                    edited=text != (job.draft_text or ""),
                )
                try:
                    final_document = poster.sign(job, _case(job), signoff)
                except ChannelError as exc:
                    raise _channel_error(exc) from None
                if signoff.edited and text != state.current_text:
                    self._save_edit(job_id, user, text)  # the signed wording joins the edit history
                if not self.record_decision(
                    job_id,
                    Status.signed,
                    actor=_actor(user),
                    via=VIA,
                    final_text=text,
                    signer_reference=user.practitioner,
                    final_document=final_document,
                    decided_at=now,
                ):
                    raise ReviewRefused("This draft was decided meanwhile.")
        return self.store.get_job(job_id)  # type: ignore[return-value]

    def reject(self, job_id: int, user: Reviewer, reason: str) -> Job:
        """Reject the draft with ``reason``: Task rejected, document entered-in-error, job rejected."""
        with self._refusal_audited(job_id, user, "reject"):
            channel = self._channel(job_id)
            job = self._open_job(job_id, "rejected")
            if not reason.strip():
                raise ReviewRefused("A reason is required to reject a draft.")
            poster = poster_for(channel)
            with self._deciding(job_id, user):
                now = self.store.clock()
                signoff = SignOff(text="", user=user.name, practitioner=user.practitioner, at=now, edited=False)
                try:
                    poster.reject(job, _case(job), reason.strip(), signoff)
                except ChannelError as exc:
                    raise _channel_error(exc) from None
                if not self.record_decision(
                    job_id,
                    Status.rejected,
                    actor=_actor(user),
                    via=VIA,
                    reason=reason.strip(),
                    signer_reference=user.practitioner,
                    decided_at=now,
                ):
                    raise ReviewRefused("This draft was decided meanwhile.")
        return self.store.get_job(job_id)  # type: ignore[return-value]

    def regenerate(self, job_id: int, user: Reviewer) -> int:
        """Draft the course again now and post it as the next version, replacing the old one. Returns the job id."""
        with self._refusal_audited(job_id, user, "regenerate"):
            channel = self._channel(job_id)
            job = self._open_job(job_id, "regenerated")
            if self.generator is None:
                raise ReviewRefused("No model is available on this server to regenerate drafts.")
            version = self.reviews.get(job_id).draft_version
            case = _case(job)
            messages = build_messages(
                case, max_tokens=self.max_prompt_tokens, scaffold=self.site is not None, slots=self.fact_slots
            )
            generation = self._new_draft(messages, case, seed=job_id * 1000 + version + 1)
            if not generation.text.strip():
                raise ReviewRefused("The model returned an empty draft; nothing was changed.")
            if leaked_prompt(generation.text) is not None:
                raise ReviewRefused("The model returned prompt text instead of a letter; nothing was changed.")
            now = self.store.clock()
            text = finish_draft(
                case, generation.text, self.site, slots=self.fact_slots, letter_date=now.astimezone().date()
            ).letter
            draft = Draft(
                case_id=case.case_id,
                text=text,
                language=case.language,
                model=generation.model,
                prompt_tokens=generation.prompt_tokens,
                completion_tokens=generation.completion_tokens,
                generated_at=now,
            )
            with self._deciding(job_id, user):
                try:
                    posted = poster_for(channel).supersede(job, case, draft, version + 1, now)
                except ChannelError as exc:
                    raise _channel_error(exc) from None
                self._record_regenerated(job_id, user, version, generation, case, now, posted, text)
        return job_id

    def _new_draft(self, messages: list[Message], case: Case, *, seed: int) -> Generation:
        """A new draft of the case: the best of ``redraft`` sampled drafts by the worker's ranking
        (``rtletter.model.redraft.best``). Greedy decoding would write the posted draft again, so it is only the
        fallback of a backend that cannot sample (the template backend) or of ``redraft`` 0."""
        backend = self.generator.loaded() if isinstance(self.generator, _LazyGenerator) else self.generator
        if self.redraft and isinstance(backend, Samples):
            drafts = backend.sample([messages], n=self.redraft, max_new_tokens=self.max_new_tokens, seed=seed)[0]
            if drafts:

                def finish(case: Case, text: str) -> str:
                    return finish_draft(case, text, self.site, slots=self.fact_slots).letter

                return best(case, drafts, finish=finish, known=self.site_words)[2]
        return backend.generate([messages], max_new_tokens=self.max_new_tokens)[0]  # type: ignore[no-any-return]

    # --- recording ----------------------------------------------------------------------------------------------------

    def record_decision(
        self,
        job_id: int,
        outcome: Status,
        *,
        actor: str,
        via: str,
        signer: str | None = None,
        final_text: str | None = None,
        reason: str | None = None,
        signer_reference: str | None = None,
        final_document: str | None = None,
        decided_at: datetime | None = None,
    ) -> bool:
        """posted -> ``outcome`` (signed | rejected), the decision recorded and audited, in one transaction. False
        when the job was no longer posted. ``signer``: who decided, when that is not ``actor`` (an EHR that names no
        one). The worklist's and the CLI's decisions come through ``sign``/``reject``; the EHR follower's here."""
        with self.store.transaction("review tables") as conn:
            if not self.store.decide(job_id, outcome, conn=conn):
                return False
            self.reviews.record_decision(
                conn,
                job_id,
                outcome=outcome,
                signer=signer or actor,
                via=via,
                final_text=final_text,
                reason=reason,
                signer_reference=signer_reference,
                final_document=final_document,
                decided_at=decided_at,
            )
            self.store.audit(actor, "write", "draft", job_id, f"{outcome.value} via {via}", conn=conn)
        return True

    def _save_edit(self, job_id: int, user: Reviewer, text: str) -> bool:
        with self.store.transaction("review tables") as conn:
            if not self.reviews.save_edit(conn, job_id, _actor(user), text):
                return False
            self.store.audit(_actor(user), "write", "draft", job_id, "edit saved", conn=conn)
        return True

    def _record_regenerated(
        self,
        job_id: int,
        user: Reviewer,
        version: int,
        generation: Any,
        case: Case,
        now: datetime,
        posted: Any,
        text: str,
    ) -> None:
        meta = {
            "model": generation.model,
            "language": case.language,
            "prompt_tokens": str(generation.prompt_tokens),
            "completion_tokens": str(generation.completion_tokens),
            "seconds": f"{generation.seconds:.3f}",
            "generated_at": now.isoformat(),
            "draft_version": str(version + 1),
        }
        if getattr(generation, "truncated", False):
            meta["truncated"] = "true"
        meta.update(fact_check_meta(case, text))
        meta.update(wording_meta(case, text, self.site_words))
        with self.store.transaction("review tables") as conn:
            replaced = self.reviews.replace_draft(
                conn,
                job_id,
                actor=_actor(user),
                old_version=version,
                text=text,
                meta=meta,
                document=posted.document,
                task=posted.task,
            )
            if not replaced:
                raise ReviewRefused("This draft was changed meanwhile.")
            what = f"draft regenerated (version {version + 1})"
            self.store.audit(_actor(user), "write", "draft", job_id, what, conn=conn)

    # --- guards -------------------------------------------------------------------------------------------------------

    @contextmanager
    def _refusal_audited(self, job_id: int, user: Reviewer, action: str) -> Iterator[None]:
        """A refused action is audited too (who tried what on which draft); the refusal goes on to the caller."""
        try:
            yield
        except ReviewRefused:
            self.store.audit(_actor(user), "write", "draft", job_id, f"{action} refused")
            raise

    def _channel(self, job_id: int) -> Any:
        job = self.store.get_job(job_id)
        if job is None:
            raise ReviewRefused("No such draft.")
        try:
            channel = self.channels.get(job.channel)
        except AgentError as exc:  # channels built from settings at first use (ConfigError)
            raise ReviewRefused(f"The channels could not be set up: {exc}") from None
        if channel is None:
            raise ReviewRefused(f"The {job.channel} channel is not configured on this server.")
        return channel

    def _open_job(self, job_id: int, what: str) -> Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise ReviewRefused("No such draft.")
        if job.status != Status.posted:
            raise ReviewRefused(f"This draft is {job.status.value}; it can no longer be {what}.")
        return job

    @contextmanager
    def _deciding(self, job_id: int, user: Reviewer) -> Iterator[None]:
        """Hold the job's decision lease while the decision goes to the channel (one decision at a time per job)."""
        if not self.reviews.claim(job_id, _actor(user)):
            job = self.store.get_job(job_id)
            if job is not None and job.status != Status.posted:
                raise ReviewRefused(f"This draft is {job.status.value} meanwhile.")
            raise ReviewRefused("Someone else is deciding on this draft right now. Reload the page in a moment.")
        try:
            yield
        finally:
            self.reviews.release(job_id, _actor(user))


def build_review_service(
    store: JobStore, settings: Any, *, channels: Mapping[str, Any] | None = None, generator: Any = None
) -> ReviewService | None:
    """The service the worklist's buttons call. Pass the running agent's ``channels`` and ``generator`` where they
    exist (a regeneration then does not load the model twice); else they are built from ``settings`` at first use
    (none for a read-only page). None without settings or channels."""
    if settings is None and channels is None:
        return None
    model = getattr(settings, "model", None)
    return ReviewService(
        store,
        channels if channels is not None else _LazyChannels(store, settings),
        generator=generator if generator is not None else (_LazyGenerator(settings) if settings is not None else None),
        max_prompt_tokens=getattr(model, "max_prompt_tokens", 3072),
        max_new_tokens=getattr(model, "max_new_tokens", 1024),
        site=model.site() if model is not None else None,
        fact_slots=bool(getattr(model, "fact_slots", False)),
        redraft=int(getattr(model, "redraft", 0)),
        site_words=model.site_words() if model is not None else None,
    )


class _LazyChannels(Mapping[str, Any]):
    """The configured channels, built at the first action (none are built for a read-only page)."""

    def __init__(self, store: JobStore, settings: Any) -> None:
        self.store = store
        self.settings = settings
        self._built: dict[str, Any] | None = None

    def _channels(self) -> dict[str, Any]:
        if self._built is None:
            from rtletter.agent.service import build_channels

            self._built = dict(build_channels(self.settings, self.store))
        return self._built

    def __getitem__(self, name: str) -> Any:
        return self._channels()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels())

    def __len__(self) -> int:
        return len(self._channels())


class _LazyGenerator:
    """The agent's generator, loaded at the first regeneration."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._generator: Any = None

    def loaded(self) -> Any:
        if self._generator is None:
            from rtletter.agent.service import build_backend

            self._generator = build_backend(self.settings.model)
        return self._generator

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        return self.loaded().generate(conversations, max_new_tokens=max_new_tokens)  # type: ignore[no-any-return]
