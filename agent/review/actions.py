"""The review actions (save edit, sign, reject, regenerate); see the package docstring for the API."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from rtletter.agent.channels.base import Draft
from rtletter.agent.errors import AgentError, ChannelError, JobStoreError
from rtletter.agent.jobs.jobs import Flag, Job, Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import fact_check_meta
from rtletter.agent.review.post import ReviewRefused, SignOff, poster_for
from rtletter.agent.review.store import ReviewStore
from rtletter.mappers.case import Case
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.prompt import build_messages
from rtletter.model.evaluate.facts import check_draft

_reviews: weakref.WeakKeyDictionary[JobStore, ReviewStore] = weakref.WeakKeyDictionary()


class Reviewer(Protocol):
    """Who acts: the worklist's ``User`` fits (``name``, ``practitioner``)."""

    name: str
    practitioner: str | None


def review_store(store: JobStore) -> ReviewStore:
    """The review tables on this job store (created on first use, once per store object)."""
    found = _reviews.get(store)
    if found is None:
        found = _reviews[store] = ReviewStore(store)
    return found


def _actor(user: Reviewer) -> str:
    return f"user:{user.name}"


def _open_job(store: JobStore, job_id: int, what: str) -> Job:
    job = store.get_job(job_id)
    if job is None:
        raise ReviewRefused("No such draft.")
    if job.status != Status.posted:
        raise ReviewRefused(f"This draft is {job.status.value}; it can no longer be {what}.")
    return job


def _case(job: Job) -> Case:
    return Case.model_validate_json(job.case_json or "")


def _channel_error(exc: ChannelError) -> ReviewRefused:
    # Channel messages name method, resource type and status only (no PHI): safe to show.
    return ReviewRefused(f"The {exc.channel or 'channel'} did not take it: {exc}. Nothing was changed; try again.")


@contextmanager
def _deciding(store: JobStore, job_id: int, user: Reviewer) -> Iterator[ReviewStore]:
    """Hold the job's decision lease while the decision goes to the channel (one decision at a time per job)."""
    reviews = review_store(store)
    if not reviews.claim(job_id, _actor(user)):
        job = store.get_job(job_id)
        if job is not None and job.status != Status.posted:
            raise ReviewRefused(f"This draft is {job.status.value} meanwhile.")
        raise ReviewRefused("Someone else is deciding on this draft right now. Reload the page in a moment.")
    try:
        yield reviews
    finally:
        reviews.release(job_id, _actor(user))


def current_text(store: JobStore, job_id: int) -> str | None:
    """The text the physician sees: the last saved edit, else the draft."""
    job = store.get_job(job_id)
    if job is None:
        return None
    return review_store(store).get(job_id).current_text or job.draft_text


def save_edit(store: JobStore, job_id: int, user: Reviewer, text: str) -> None:
    """Store ``text`` as the draft's current text (edit history kept); the draft stays preliminary."""
    _open_job(store, job_id, "edited")
    if not text.strip():
        raise ReviewRefused("The letter text is empty.")
    try:
        review_store(store).save_edit(job_id, _actor(user), text)
    except JobStoreError as exc:
        raise ReviewRefused("This draft can no longer be edited.") from exc


def sign(
    store: JobStore,
    job_id: int,
    user: Reviewer,
    text: str | None = None,
    *,
    channel: Any,
    acknowledge_course_change: bool = False,
    acknowledge_findings: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Job:
    """Sign ``text`` (default: the current text). Returns the signed job.

    A text that the fact check finds contradicting the source (a wrong dose, date, code, side, grade, a value in the
    wrong role) is refused unless ``acknowledge_findings``; the acknowledgement is recorded in the audit."""
    job = _open_job(store, job_id, "signed")
    if Flag.course_updated_after_draft in job.flags and not acknowledge_course_change:
        raise ReviewRefused(
            "The course changed after this draft was written. Regenerate it, or confirm that you checked the changes."
        )
    state = review_store(store).get(job_id)
    text = text if text is not None else (state.current_text or job.draft_text or "")
    if not text.strip():
        raise ReviewRefused("The letter text is empty.")
    contradicted = check_draft(_case(job), text).contradicted
    if contradicted and not acknowledge_findings:
        raise ReviewRefused(
            f"The fact check finds {contradicted} statement{'s' if contradicted != 1 else ''} contradicting the source "
            "data. Correct the letter, or confirm that you checked the findings."
        )
    poster = poster_for(channel)
    with _deciding(store, job_id, user) as reviews:
        now = (clock or store.clock)()
        if contradicted:
            what = f"draft {job_id}: {contradicted} contradicted fact-check finding(s) acknowledged at signing"
            store.audit(_actor(user), "acknowledge", "draft", job.key, what)
        signoff = SignOff(
            text=text, user=user.name, practitioner=user.practitioner, at=now, edited=text != (job.draft_text or "")
        )
        try:
            final_document = poster.sign(job, _case(job), signoff)
        except ChannelError as exc:
            raise _channel_error(exc) from None
        if signoff.edited and text != state.current_text:
            reviews.save_edit(job_id, _actor(user), text)  # the signed wording joins the edit history
        if not reviews.decide(
            job_id,
            outcome=Status.signed,
            actor=_actor(user),
            via="worklist",
            final_text=text,
            signer_reference=user.practitioner,
            final_document=final_document,
            decided_at=now,
        ):
            raise ReviewRefused("This draft was decided meanwhile.")
    return store.get_job(job_id)  # type: ignore[return-value]


def reject(
    store: JobStore,
    job_id: int,
    user: Reviewer,
    reason: str,
    *,
    channel: Any,
    clock: Callable[[], datetime] | None = None,
) -> Job:
    """Reject the draft with ``reason``: Task rejected, document entered-in-error, job rejected."""
    job = _open_job(store, job_id, "rejected")
    if not reason.strip():
        raise ReviewRefused("A reason is required to reject a draft.")
    poster = poster_for(channel)
    with _deciding(store, job_id, user) as reviews:
        now = (clock or store.clock)()
        signoff = SignOff(text="", user=user.name, practitioner=user.practitioner, at=now, edited=False)
        try:
            poster.reject(job, _case(job), reason.strip(), signoff)
        except ChannelError as exc:
            raise _channel_error(exc) from None
        if not reviews.decide(
            job_id,
            outcome=Status.rejected,
            actor=_actor(user),
            via="worklist",
            reason=reason.strip(),
            signer_reference=user.practitioner,
            decided_at=now,
        ):
            raise ReviewRefused("This draft was decided meanwhile.")
    return store.get_job(job_id)  # type: ignore[return-value]


def regenerate(
    store: JobStore,
    job_id: int,
    user: Reviewer,
    *,
    channel: Any,
    generator: Any,
    max_prompt_tokens: int = 3072,
    max_new_tokens: int = 1024,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """Draft the course again now and post it as the next version, replacing the old one. Returns the job id."""
    job = _open_job(store, job_id, "regenerated")
    if generator is None:
        raise ReviewRefused("No model is available on this server to regenerate drafts.")
    reviews = review_store(store)
    version = reviews.get(job_id).draft_version
    case = _case(job)
    messages = build_messages(case, max_tokens=max_prompt_tokens)
    generation = generator.generate([messages], max_new_tokens=max_new_tokens)[0]  # messages carry .case
    if not generation.text.strip():
        raise ReviewRefused("The model returned an empty draft; nothing was changed.")
    if leaked_prompt(generation.text) is not None:
        raise ReviewRefused("The model returned prompt text instead of a letter; nothing was changed.")
    now = (clock or store.clock)()
    draft = Draft(
        case_id=case.case_id,
        text=generation.text,
        language=case.language,
        model=generation.model,
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        generated_at=now,
    )
    with _deciding(store, job_id, user):
        try:
            posted = poster_for(channel).supersede(job, case, draft, version + 1, now)
        except ChannelError as exc:
            raise _channel_error(exc) from None
        return _record_regenerated(reviews, job_id, user, version, generation, case, now, posted)


def _record_regenerated(
    reviews: ReviewStore, job_id: int, user: Reviewer, version: int, generation: Any, case: Case, now: datetime,
    posted: Any,
) -> int:  # fmt: skip
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
    meta.update(fact_check_meta(case, generation.text))
    if not reviews.replace_draft(
        job_id,
        actor=_actor(user),
        old_version=version,
        text=generation.text,
        meta=meta,
        document=posted.document,
        task=posted.task,
    ):
        raise ReviewRefused("This draft was changed meanwhile.")
    return job_id


class ReviewService:
    """The actions bound to the agent's channels and generator, in the shape the worklist's routes call
    (``rtletter.agent.worklist.actions.ReviewActions``)."""

    def __init__(
        self,
        store: JobStore,
        channels: Mapping[str, Any],
        *,
        generator: Any = None,
        max_prompt_tokens: int = 3072,
        max_new_tokens: int = 1024,
    ) -> None:
        self.store = store
        self.channels = channels
        self.generator = generator
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        review_store(store)

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

    def save_edit(self, job_id: int, text: str, user: Reviewer) -> None:
        save_edit(self.store, job_id, user, text)

    def sign(
        self,
        job_id: int,
        text: str,
        user: Reviewer,
        *,
        acknowledge_course_change: bool = False,
        acknowledge_findings: bool = False,
    ) -> None:
        sign(
            self.store,
            job_id,
            user,
            text,
            channel=self._channel(job_id),
            acknowledge_course_change=acknowledge_course_change,
            acknowledge_findings=acknowledge_findings,
        )

    def reject(self, job_id: int, reason: str, user: Reviewer) -> None:
        reject(self.store, job_id, user, reason, channel=self._channel(job_id))

    def regenerate(self, job_id: int, user: Reviewer) -> int | None:
        return regenerate(
            self.store,
            job_id,
            user,
            channel=self._channel(job_id),
            generator=self.generator,
            max_prompt_tokens=self.max_prompt_tokens,
            max_new_tokens=self.max_new_tokens,
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

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        if self._generator is None:
            from rtletter.agent.service import build_backend

            self._generator = build_backend(self.settings.model)
        return self._generator.generate(conversations, max_new_tokens=max_new_tokens)  # type: ignore[no-any-return]


class WorklistActions:
    """``ReviewService`` for the worklist's routes: ``ReviewRefused`` becomes the worklist's ``ActionRefused``."""

    def __init__(self, service: ReviewService) -> None:
        self.service = service

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from rtletter.agent.worklist.actions import ActionRefused

        try:
            return method(*args, **kwargs)
        except ReviewRefused as exc:
            raise ActionRefused(str(exc)) from None

    def save_edit(self, job_id: int, text: str, user: Reviewer) -> None:
        self._call(self.service.save_edit, job_id, text, user)

    def sign(
        self,
        job_id: int,
        text: str,
        user: Reviewer,
        *,
        acknowledge_course_change: bool = False,
        acknowledge_findings: bool = False,
    ) -> None:
        self._call(
            self.service.sign,
            job_id,
            text,
            user,
            acknowledge_course_change=acknowledge_course_change,
            acknowledge_findings=acknowledge_findings,
        )

    def reject(self, job_id: int, reason: str, user: Reviewer) -> None:
        self._call(self.service.reject, job_id, reason, user)

    def regenerate(self, job_id: int, user: Reviewer) -> int | None:
        return self._call(self.service.regenerate, job_id, user)  # type: ignore[no-any-return]


def build_review_actions(
    store: JobStore, settings: Any, *, channels: Mapping[str, Any] | None = None, generator: Any = None
) -> WorklistActions | None:
    """What the worklist router calls (``default_actions``). Pass the running agent's ``channels`` and
    ``generator`` where they exist; else they are built from ``settings`` at first use. None without settings."""
    if settings is None and channels is None:
        return None
    service = ReviewService(
        store,
        channels if channels is not None else _LazyChannels(store, settings),
        generator=generator if generator is not None else (_LazyGenerator(settings) if settings is not None else None),
        max_prompt_tokens=getattr(getattr(settings, "model", None), "max_prompt_tokens", 3072),
        max_new_tokens=getattr(getattr(settings, "model", None), "max_new_tokens", 1024),
    )
    return WorklistActions(service)
