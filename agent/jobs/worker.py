"""The pipeline: poll the channels, store what arrives, then claim one row at a time and run its next step.

Steps (each ends in one commit; a crash between two leaves the row at the last checkpoint, and the step is run
again by whoever claims it next, so every step is idempotent)::

    poll       channel.poll() -> store_inbound (commit) -> channel.acknowledge
    intake     inbound received -> channel.fetch_context -> cases -> jobs (+ inbound context_fetched), one commit
               MappingError -> quarantined (never retried unchanged)
               no case to draft (mappers.checks.why_not_drafted, one rule for every channel) -> ignored, reason kept
    generate   job context_fetched -> build_messages -> Backend.generate -> redraft (a draft the fact check faults
               is drafted again by sampling, the candidate with the fewest faults kept: model.redraft; one still
               faulted gives way to the site's template letter: model.fallback) -> draft gate
               -> the site's letter around the generated body (mappers.scaffold, with a ``site``) -> draft stored
               (generated; draft_meta.redraft: how the posted candidate was chosen)
               draft gate: a draft holding prompt text (instructions, chat-template tokens, the facts block's layout)
               fails its job for good (dead, no retry); every other draft is fact-checked against its case and the
               findings and the key facts it leaves out are stored with it (draft_meta: findings, contradicted,
               fact_check, omitted, omitted_facts; with the adapter's word list also non_words, the body's
               words in neither the site's letters nor the case: model.vocabulary)
    post       job generated -> channel.post_draft -> status posted

A failed step is retried with ``RetryStrategy`` (backoff with jitter) and dead-lettered after the limit.
``stop()`` (SIGTERM, SIGINT) lets the step in hand finish and checkpoint, then the loop ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any

from rtletter.agent.channels.base import Acknowledges, Channel, Draft, Inbound, Quarantines, RollsBack
from rtletter.agent.errors import AgentError, JobStoreError
from rtletter.agent.jobs.claims import LostClaim
from rtletter.agent.jobs.job import Job, Status, StoredInbound
from rtletter.agent.jobs.retry import RetryStrategy
from rtletter.agent.jobs.schema import utcnow
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger
from rtletter.agent.metrics import AgentMetrics
from rtletter.mappers.case import Case
from rtletter.mappers.checks import split_drafted
from rtletter.mappers.draft import FinishedDraft, finish_draft
from rtletter.mappers.draft_gate import DraftCheck, leaked_prompt
from rtletter.mappers.errors import MappingError
from rtletter.mappers.prompt import PromptMessages, build_messages
from rtletter.mappers.scaffold import Site
from rtletter.model import Backend, Generation
from rtletter.model.evaluate.facts import check_draft
from rtletter.model.redraft import Redrafted, fall_back, redraft
from rtletter.model.vocabulary import non_words

MAX_PROMPT_TOKENS = 3072
MAX_NEW_TOKENS = 1024
IDLE_SLEEP_S = 1.0  # how often a running worker looks for due retries between polls
STORE_DOWN_SLEEP_S = 5.0  # pause after the job store failed, before trying again

log = get_logger("rtletter.agent.worker")


def describe_error(exc: BaseException) -> str:
    """A log- and database-safe description. Our own errors promise PHI-free messages; anything else may quote
    data (a KeyError with a name in it), so only its type and where it was raised are kept."""
    if isinstance(exc, MappingError | AgentError):
        return f"{type(exc).__name__}: {exc}"
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}" if frame else ""
    return f"{type(exc).__name__}{where}"


class DraftRejected(AgentError):
    """The generator returned something that must never be posted (prompt text). Permanent: a retry of the same
    prompt would return the same kind of text."""

    retryable = False


def draft_check(meta: Mapping[str, str]) -> DraftCheck | None:
    """The draft-time check stored in a job's draft_meta (None for drafts stored before the check existed)."""
    if "findings" not in meta:
        return None
    return DraftCheck(
        findings=int(meta["findings"]),
        contradicted=int(meta.get("contradicted", 0)),
        truncated=meta.get("truncated") == "true",
        omitted=int(meta.get("omitted", 0)),
    )


def redraft_choice(meta: Mapping[str, str], *, faults: bool = False) -> str | None:
    """How a redrafted draft was chosen, in words ("sampled draft 3 of 8 posted"; with ``faults`` the first and the
    posted draft's fault counts too), or None for a draft posted as first drafted."""
    if "redraft" not in meta:
        return None
    chosen = json.loads(meta["redraft"])
    if "template" in chosen:
        drafts = f"best of {chosen['candidates'] + 1} drafts" if chosen["candidates"] else "draft"
        text = f"the site's template letter posted: the model's {drafts} was faulted"
        return f"{text}; first draft: {chosen['first']}; model's best: {chosen['template']}" if faults else text
    text = (f"sampled draft {chosen['picked']} of {chosen['candidates']} posted" if chosen["picked"]
            else f"first draft kept, no better one of {chosen['candidates']} sampled")  # fmt: skip
    return f"{text}; first draft: {chosen['first']}; posted: {chosen['posted']}" if faults else text


def fact_check_meta(case: Case, text: str) -> dict[str, str]:
    """The fact check of a draft as draft_meta entries: counts, the findings themselves (JSON list) and the key facts
    the draft does not state (JSON list)."""
    report = check_draft(case, text)
    findings = [
        {"finding": f.finding, "kind": f.kind, "value": f.value, "label": f.label, "expected": list(f.expected)}
        for f in report.findings
    ]
    return {
        "findings": str(len(report.findings)),
        "contradicted": str(report.contradicted),
        "fact_check": json.dumps(findings, ensure_ascii=False),
        "omitted": str(len(report.omitted)),
        "omitted_facts": json.dumps([f.model_dump() for f in report.omitted], ensure_ascii=False),
    }


def wording_meta(case: Case, text: str, site_words: frozenset[str] | None) -> dict[str, str]:
    """The body's non-words as a draft_meta entry (JSON list; the worklist lists them), or nothing without the
    adapter's word list (``rtletter.model.vocabulary``)."""
    if site_words is None:
        return {}
    return {"non_words": json.dumps(non_words(case, text, site_words), ensure_ascii=False)}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DrainResult:
    steps: int = 0
    posted: int = 0
    quarantined: int = 0
    ignored: int = 0
    dead: int = 0
    retrying: int = 0


class Worker:
    """Runs the pipeline for a set of channels on one store. One thread; run several processes to scale."""

    def __init__(
        self,
        store: JobStore,
        channels: Mapping[str, Channel],
        generator: Backend,
        *,
        retry: RetryStrategy | None = None,
        metrics: AgentMetrics | None = None,
        worker_id: str | None = None,
        max_prompt_tokens: int = MAX_PROMPT_TOKENS,
        max_new_tokens: int = MAX_NEW_TOKENS,
        batch_size: int = 1,
        clock: Callable[[], datetime] = utcnow,
        site: Site | None = None,
        fact_slots: bool = False,
        redraft: int = 0,
        site_words: frozenset[str] | None = None,
        fallback: Backend | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.generator = generator
        self.retry = retry or RetryStrategy()
        self.metrics = metrics or AgentMetrics()
        self.worker_id = worker_id or default_worker_id()
        self.max_prompt_tokens = max_prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.batch_size = max(1, batch_size)
        self.clock = clock
        # With a site the model writes the body and the site's letter template the rest (model.scaffold); without
        # one the generated text is the letter.
        self.site = site
        self.fact_slots = fact_slots  # the prompt lists slot ids, the draft is filled from the case (model.fact_slots)
        self.redraft = redraft  # sampled candidates for a draft the fact check faults (model.redraft)
        self.site_words = site_words  # the adapter's training letters' words: a draft's other words are faults
        self.fallback = fallback  # the template backend, for a draft redrafting left faulted (model.fallback)
        self._stop = threading.Event()
        self._wake = threading.Event()

    # --- control ------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the step in hand, then return from ``drain``/``run``/``serve``."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """New work was stored (a scheduled poll, a notification): end ``serve``'s idle wait now."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("shutdown requested", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    # --- polling ------------------------------------------------------------------------------------------------

    def poll_channels(self) -> int:
        """One poll of every channel; every event is committed before the channel may acknowledge it."""
        stored = 0
        for name, channel in self.channels.items():
            try:
                events = channel.poll()
            except Exception as exc:  # a channel that is down must not stop the others
                log.warning("poll failed", channel=name, error=describe_error(exc))
                self.metrics.inbound.labels(channel=name, result="poll_failed").inc()
                continue
            try:
                stored += self._store_events(name, channel, events)
            except Exception:
                # Not all stored: the channel must deliver them again (the FHIR poller keeps its old mark).
                if isinstance(channel, RollsBack):
                    channel.rollback()
                raise
        return stored

    def _store_events(self, name: str, channel: Channel, events: list[Inbound]) -> int:
        stored = 0
        for event in events:
            inbound_id, created = self.store.store_event(event, actor=self.worker_id)
            self.metrics.inbound.labels(channel=name, result="stored" if created else "replay").inc()
            log.info("inbound stored" if created else "inbound replay ignored", channel=name, inbound_id=inbound_id)
            stored += created
            if isinstance(channel, Acknowledges):
                channel.acknowledge(event)
        return stored

    # --- one step -----------------------------------------------------------------------------------------------

    def run_one(self, result: DrainResult | None = None) -> bool:
        """Claim one due row and run its next step. False when nothing is due."""
        result = result if result is not None else DrainResult()
        inbound = self.store.claim_inbound(self.worker_id)
        if inbound is not None:
            self._intake(inbound, result)
            result.steps += 1
            return True
        job = self.store.claim_job(self.worker_id)
        if job is None:
            return False
        if job.status == Status.context_fetched:
            batch = [job]  # drafts due together are generated in one batch (the backend pads and batches them)
            while len(batch) < self.batch_size and (more := self.store.claim_job(self.worker_id, to_generate=True)):
                batch.append(more)
            self._generate(batch, result)
        else:
            self._post(job, result)
        result.steps += 1
        return True

    def drain(self) -> DrainResult:
        """Run steps until nothing is due now (retries waiting for their time stay queued) or ``stop()``."""
        result = DrainResult()
        while not self.stopping and self.run_one(result):
            pass
        self.metrics.refresh(self.store)
        return result

    def run(self, poll_interval_s: float) -> None:
        """Poll and drain until ``stop()``: the long-running service loop."""
        next_poll = 0.0
        while not self.stopping:
            if time.monotonic() >= next_poll:
                self.poll_channels()
                next_poll = time.monotonic() + poll_interval_s
            self.drain()
            self._stop.wait(min(IDLE_SLEEP_S, max(0.0, next_poll - time.monotonic())))

    def serve(self) -> None:
        """Drain until ``stop()``, idling between drains until ``wake()`` or ``IDLE_SLEEP_S`` (due retries).
        Polls come from elsewhere (the scheduler, the notification receiver): the long-running service loop."""
        while not self.stopping:
            self._wake.clear()
            try:
                self.drain()
            except JobStoreError as exc:  # the database is away: the row keeps its state, try again later
                log.error("job store unavailable", error=describe_error(exc))
                self._stop.wait(STORE_DOWN_SLEEP_S)
            self._wake.wait(IDLE_SLEEP_S)

    # --- steps --------------------------------------------------------------------------------------------------

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            raise AgentError(f"channel {name} is not configured")
        return channel

    def _fail(self, table: str, row_id: int, attempts: int, step: str, exc: BaseException, result: DrainResult) -> None:
        error = describe_error(exc)
        decision = self.retry.decide(attempts, exc, self.clock())
        reason = error if decision.retry else f"{error} ({decision.reason})"
        status = self.store.record_failure(table, row_id, self.worker_id, error=reason, retry_at=decision.retry_at)
        if status == Status.dead:
            result.dead += 1
            self.metrics.dead_letters.labels(table=table).inc()
            self.metrics.steps.labels(step=step, outcome="dead").inc()
            log.error("dead letter", step=step, table=table, row_id=row_id, error=reason)
        else:
            result.retrying += 1
            self.metrics.steps.labels(step=step, outcome="retry").inc()
            log.warning(
                "step failed, will retry",
                step=step,
                table=table,
                row_id=row_id,
                error=error,
                attempt=attempts + 1,
                delay_s=round(decision.delay_s, 3),
            )

    def _intake(self, stored: StoredInbound, result: DrainResult) -> None:
        started = time.perf_counter()
        inbound = Inbound(
            channel=stored.channel,
            key=stored.key,
            payload=stored.payload,
            content_type=stored.content_type,
            received_at=stored.received_at,
            meta=stored.meta,
        )
        try:
            channel = self._channel(stored.channel)
            cases = channel.fetch_context(inbound)
        except MappingError as exc:
            reason = describe_error(exc)
            if self.store.transition(stored.id, self.worker_id, Status.quarantined, quarantine_reason=reason):
                if isinstance(channel, Quarantines):
                    channel.quarantine(inbound, str(exc))
                result.quarantined += 1
                self.metrics.steps.labels(step="fetch_context", outcome="quarantined").inc()
                log.warning("inbound quarantined", inbound_id=stored.id, error=reason)
            return
        except Exception as exc:
            self._fail("inbound", stored.id, stored.attempts, "fetch_context", exc, result)
            return
        cases, reasons = split_drafted(cases)
        if not cases:
            reason = "; ".join(dict.fromkeys(reasons))
            if self.store.transition(stored.id, self.worker_id, Status.ignored, quarantine_reason=reason):
                result.ignored += 1
                self.metrics.steps.labels(step="fetch_context", outcome="ignored").inc()
                log.info("inbound ignored", inbound_id=stored.id, reason=reason)
            return
        for reason in reasons:
            log.info("case not drafted", inbound_id=stored.id, reason=reason)
        try:
            outcomes = self.store.record_cases(stored.id, self.worker_id, cases, stored.channel)
        except LostClaim:
            log.warning("claim lost", step="fetch_context", inbound_id=stored.id)
            return
        self.metrics.step_seconds.labels(step="fetch_context").observe(time.perf_counter() - started)
        self.metrics.steps.labels(step="fetch_context", outcome="ok").inc()
        for outcome in outcomes:
            if outcome.result == "flagged":
                self.metrics.course_updates.inc()
                log.warning("course updated after draft; not redrafted", job_id=outcome.job_id)
            else:
                log.info("case " + outcome.result, job_id=outcome.job_id, inbound_id=stored.id)

    def _generate(self, jobs: list[Job], result: DrainResult) -> None:
        started = time.perf_counter()
        ready: list[tuple[Job, Case, PromptMessages]] = []
        for job in jobs:
            try:
                case = Case.model_validate_json(job.case_json or "")
                # the messages themselves (not a copy): they carry .case for backends that write from the case
                messages = build_messages(
                    case, max_tokens=self.max_prompt_tokens, scaffold=self.site is not None, slots=self.fact_slots
                )
                ready.append((job, case, messages))
            except Exception as exc:
                self._fail("jobs", job.id, job.attempts, "generate", exc, result)
        if not ready:
            return
        conversations: list[list[dict[str, str]]] = [m for _, _, m in ready]
        try:
            generations = self.generator.generate(conversations, max_new_tokens=self.max_new_tokens)
        except Exception as exc:
            for job, _, _ in ready:
                self._fail("jobs", job.id, job.attempts, "generate", exc, result)
            return
        chosen = self._redraft(conversations, [c for _, c, _ in ready], generations, seed=ready[0][0].id)
        seconds = (time.perf_counter() - started) / len(ready)
        for (job, case, _), choice in zip(ready, chosen, strict=True):
            generation = choice.generation
            if not generation.text.strip():
                self._fail(
                    "jobs",
                    job.id,
                    job.attempts,
                    "generate",
                    AgentError("the generator returned an empty draft"),
                    result,
                )
                continue
            leak = leaked_prompt(generation.text)
            if leak is not None:  # never posted, never retried; the reason names the kind of leak, no patient data
                self.metrics.steps.labels(step="generate", outcome="rejected").inc()
                self._fail(
                    "jobs",
                    job.id,
                    job.attempts,
                    "generate",
                    DraftRejected(f"draft contains prompt text: {leak}"),
                    result,
                )
                continue
            self._record_draft(job, case, choice, seconds)

    def _redraft(
        self, conversations: list[list[dict[str, str]]], cases: list[Case], generations: list[Generation], *, seed: int
    ) -> list[Redrafted]:
        """The drafts to post: faulted first drafts redrafted (``model.redraft``). A server that cannot sample (no
        ``n`` choices) or fails while sampling costs the redraft, not the drafts: the first ones are kept."""

        def finish(case: Case, text: str) -> str:
            return self._finish(case, text).letter

        try:
            chosen = redraft(self.generator, conversations, cases, generations, finish=finish,
                             candidates=self.redraft, max_new_tokens=self.max_new_tokens, seed=seed,
                             known=self.site_words)  # fmt: skip
        except Exception as exc:
            log.warning("redraft failed, first drafts kept", error=describe_error(exc))
            chosen = redraft(self.generator, conversations, cases, generations, finish=finish, candidates=0,
                             known=self.site_words)  # fmt: skip
        if self.fallback is None:
            return chosen
        return fall_back(self.fallback, conversations, cases, chosen, finish=finish, known=self.site_words)

    def _finish(self, case: Case, text: str) -> FinishedDraft:
        """The letter posted for a generated ``text``: slots filled from the case, the site's head and tail around
        it, dated today."""
        today = self.clock().astimezone().date()
        return finish_draft(case, text, self.site, slots=self.fact_slots, letter_date=today)

    def _record_draft(self, job: Job, case: Case, choice: Redrafted, seconds: float) -> None:
        generation = choice.generation
        finished = self._finish(case, generation.text)
        text = finished.letter
        meta = {
            "model": generation.model,
            "language": case.language,
            "prompt_tokens": str(generation.prompt_tokens),
            "completion_tokens": str(generation.completion_tokens),
            "seconds": f"{generation.seconds:.3f}",
            "generated_at": self.clock().isoformat(),
        }
        if generation.truncated:  # the model hit max_new_tokens: the worklist flags the draft
            meta["truncated"] = "true"
        if choice.candidates or choice.fell_back:  # the first draft was faulted: what it was and what was posted
            chosen: dict[str, Any] = {
                "candidates": choice.candidates,
                "picked": choice.picked,
                "first": choice.first.describe(),
                "posted": choice.faults.describe(),
            }
            if choice.model_faults is not None:  # the site's template letter posted in place of the model's draft
                chosen["template"] = choice.model_faults.describe()
            meta["redraft"] = json.dumps(chosen)
        meta.update(fact_check_meta(case, text))
        meta.update(wording_meta(case, text, self.site_words))
        if finished.filled is not None:  # the worklist shows each filled value with the resource or segment it is from
            meta["slot_sources"] = json.dumps(finished.sources(), ensure_ascii=False)
        if not self.store.transition(job.id, self.worker_id, Status.generated, draft_text=text, draft_meta=meta):
            log.warning("claim lost", step="generate", job_id=job.id)
            return
        self.metrics.step_seconds.labels(step="generate").observe(seconds)
        self.metrics.steps.labels(step="generate", outcome="ok").inc()
        self.metrics.generated_tokens.inc(generation.completion_tokens)
        self.metrics.generation_seconds.inc(generation.seconds)
        self.metrics.tokens_per_second.set(generation.tokens_per_second)
        log.info(
            "draft generated",
            job_id=job.id,
            completion_tokens=generation.completion_tokens,
            seconds=round(generation.seconds, 3),
            truncated=generation.truncated,
            redraft_candidates=choice.candidates,
            redraft_picked=choice.picked,
            template_letter=choice.fell_back,
        )

    def _post(self, job: Job, result: DrainResult) -> None:
        started = time.perf_counter()
        try:
            case = Case.model_validate_json(job.case_json or "")
            meta: dict[str, Any] = job.draft_meta
            draft = Draft(
                case_id=case.case_id,
                text=job.draft_text or "",
                language=meta.get("language", case.language),
                model=meta.get("model", ""),
                prompt_tokens=int(meta.get("prompt_tokens", 0)),
                completion_tokens=int(meta.get("completion_tokens", 0)),
                generated_at=datetime.fromisoformat(meta["generated_at"]) if "generated_at" in meta else self.clock(),
                check=draft_check(meta),
            )
            posted = self._channel(job.channel).post_draft(case, draft)
        except Exception as exc:
            self._fail("jobs", job.id, job.attempts, "post", exc, result)
            return
        if not self.store.transition(
            job.id, self.worker_id, Status.posted, posted_document=posted.document, posted_task=posted.task
        ):
            log.warning("claim lost", step="post", job_id=job.id)
            return
        result.posted += 1
        self.metrics.step_seconds.labels(step="post").observe(time.perf_counter() - started)
        self.metrics.steps.labels(step="post", outcome="ok").inc()
        log.info("draft posted", job_id=job.id, channel=job.channel)
