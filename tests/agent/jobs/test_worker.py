from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rtletter.agent.channels.base import Draft, Inbound, Posted
from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import Settings, load_settings
from rtletter.agent.errors import ChannelRejected, ChannelUnavailable
from rtletter.agent.jobs import JobStore, RetryStrategy, Status, Worker
from rtletter.agent.jobs.job import Job
from rtletter.agent.jobs.worker import describe_error
from rtletter.agent.metrics import AgentMetrics
from rtletter.mappers.case import Case
from rtletter.model import TemplateBackend
from tests.factories import make_case

HERE = Path(__file__).parent


class FlakyChannel(FileChannel):
    """Fault injection: post_draft fails ``failures`` times with ``error`` before it works."""

    def __init__(self, *args: Any, failures: int, error: Exception, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures
        self.error = error
        self.calls = 0

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return super().post_draft(case, draft)


def _drop(settings: Settings, n: int) -> list[Case]:
    assert settings.channels.file is not None
    settings.channels.file.inbox.mkdir(parents=True, exist_ok=True)
    cases = [make_case(i) for i in range(n)]
    for case in cases:
        (settings.channels.file.inbox / f"{case.course.id}.case.json").write_text(case.model_dump_json())
    return cases


def _worker(settings: Settings, channel: FileChannel, max_attempts: int = 3) -> Worker:
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    retry = RetryStrategy(max_attempts=max_attempts, base_s=0.0, max_s=0.0)  # due again at once
    return Worker(store, {"file": channel}, TemplateBackend(), retry=retry, metrics=AgentMetrics())


def test_transient_post_failures_are_retried_then_posted(settings: Settings) -> None:
    _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=2, error=ChannelUnavailable("503", channel="file"))
    worker = _worker(settings, channel, max_attempts=3)
    worker.poll_channels()
    result = worker.drain()
    assert (result.posted, result.retrying, result.dead) == (1, 2, 0)
    (job,) = worker.store.list_jobs()
    assert job.status == Status.posted and job.attempts == 0 and job.last_error is None
    assert b'rtletter_steps_total{outcome="retry",step="post"} 2.0' in worker.metrics.render()


def test_post_failures_beyond_the_limit_dead_letter_with_the_reason(settings: Settings) -> None:
    _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=99, error=ChannelUnavailable("503", channel="file"))
    worker = _worker(settings, channel, max_attempts=3)
    worker.poll_channels()
    result = worker.drain()
    assert (result.posted, result.retrying, result.dead) == (0, 2, 1)
    (job,) = worker.store.list_jobs()
    assert job.status == Status.dead and job.attempts == 3
    assert job.last_error == "ChannelUnavailable: file: 503 (gave up after 3 attempts)"
    assert job.draft_text  # the draft is kept: `jobs retry` resumes at the post step
    assert worker.store.retry_job(job.id, "test").status == Status.generated
    channel.failures = 0
    assert worker.drain().posted == 1
    metrics = worker.metrics.render()
    assert b'rtletter_dead_letters_total{table="jobs"} 1.0' in metrics
    assert b'rtletter_jobs{state="posted",table="jobs"} 1.0' in metrics


def test_permanent_errors_dead_letter_without_retry(settings: Settings) -> None:
    _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=99, error=ChannelRejected("422", channel="file"))
    worker = _worker(settings, channel, max_attempts=5)
    worker.poll_channels()
    assert worker.drain().dead == 1 and channel.calls == 1


def test_foreign_exception_messages_are_not_stored() -> None:
    try:
        {}["Hannelore Quastenberg"]  # noqa: B018
    except KeyError as exc:
        text = describe_error(exc)
    assert text.startswith("KeyError at test_worker.py:") and "Hannelore" not in text


def test_unmappable_event_is_quarantined_not_retried(settings: Settings) -> None:
    assert settings.channels.file is not None
    settings.channels.file.inbox.mkdir(parents=True, exist_ok=True)
    (settings.channels.file.inbox / "x.case.json").write_text("[{}]")
    worker = _worker(settings, FileChannel(settings.channels.file))
    worker.poll_channels()
    result = worker.drain()
    assert (result.quarantined, result.retrying, result.dead) == (1, 0, 0)
    (stored,) = worker.store.list_inbound()
    assert (
        stored.status == Status.quarantined and stored.quarantine_reason == "InvalidValue: Case.case_id: Field required"
    )
    assert (settings.channels.file.quarantine / "x.case.json.error.txt").read_text() == "Case.case_id: Field required\n"


def test_event_of_an_unconfigured_channel_is_retried_then_dead_lettered_but_kept(settings: Settings) -> None:
    assert settings.channels.file is not None
    worker = _worker(settings, FileChannel(settings.channels.file), max_attempts=3)
    worker.store.store_inbound(
        channel="mllp", key="MSH-10:1", payload=b"MSH|", content_type="x", received_at=datetime.now(UTC)
    )
    result = worker.drain()
    assert (result.retrying, result.dead) == (2, 1)
    (stored,) = worker.store.list_inbound()
    assert stored.status == Status.dead and stored.payload == b"MSH|"
    assert stored.last_error == "AgentError: channel mllp is not configured (gave up after 3 attempts)"


# --- crashes and shutdown in a real process ----------------------------------------------------------------------


def _crash(config: Path, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HERE / "crash_worker.py"), str(config), point],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("point", ["acknowledge", "fetch_context", "generate", "post"])
def test_kill_at_a_step_boundary_then_restart_gives_exactly_one_draft_per_course(
    config_file: Callable[..., Path], point: str
) -> None:
    config = config_file(jobs={"lease_s": 0.5})
    settings = load_settings(config)
    cases = _drop(settings, 3)
    crashed = _crash(config, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    restarted = subprocess.run(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert settings.channels.file is not None
    letters = sorted(settings.channels.file.outbox.glob("*.txt"))
    assert len(letters) == len(cases)
    assert not list(settings.channels.file.outbox.glob(".*.tmp"))
    store = JobStore(settings.database.url)
    jobs = store.list_jobs()
    assert sorted(j.key for j in jobs) == sorted(c.case_id for c in cases)
    assert {j.status for j in jobs} == {Status.posted}
    assert len(store.list_inbound()) == len(cases)
    assert list(settings.channels.file.inbox.iterdir()) == []


def test_sigterm_mid_step_finishes_and_checkpoints_the_step_then_exits(config_file: Callable[..., Path]) -> None:
    config = config_file()
    settings = load_settings(config)
    _drop(settings, 2)
    result = _crash(config, "term-in-generate")
    assert result.returncode == 0, result.stderr
    assert '"event": "shutdown requested"' in result.stderr
    jobs = JobStore(settings.database.url).list_jobs()
    # the generation in hand was stored; nothing after it was started
    assert sorted(j.status for j in jobs) == [Status.context_fetched, Status.generated]
    assert all(j.attempts == 0 and j.last_error is None for j in jobs)


def test_run_forever_stops_cleanly_on_sigterm(config_file: Callable[..., Path]) -> None:
    from rtletter.demo.sandbox import free_port

    config = config_file(scheduler={"poll_interval_s": 0.2}, web={"port": free_port()})
    settings = load_settings(config)
    _drop(settings, 2)
    assert settings.channels.file is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        outbox = settings.channels.file.outbox
        for _ in range(200):
            if len(list(outbox.glob("*.txt"))) == 2:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        (settings.channels.file.inbox / "late.case.json").write_text(make_case(7).model_dump_json())
        for _ in range(100):
            if len(list(outbox.glob("*.txt"))) == 3:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert len(list(outbox.glob("*.txt"))) == 3  # a file dropped while running is picked up by the next poll
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert '"event": "agent stopped"' in stderr


def test_inbound_protocol_extension_is_optional() -> None:
    from rtletter.agent.channels.base import Acknowledges, Quarantines

    class Minimal:
        name = "x"

        def poll(self) -> list[Inbound]:
            return []

    assert not isinstance(Minimal(), Acknowledges) and not isinstance(Minimal(), Quarantines)


class CountingBackend(TemplateBackend):
    """The template backend, recording how many conversations each generate() call drafted."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        self.calls.append(len(conversations))
        return super().generate(conversations, max_new_tokens=max_new_tokens)


def test_due_drafts_are_generated_in_batches_of_the_configured_size(settings: Settings) -> None:
    assert settings.channels.file is not None
    cases = _drop(settings, 5)
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    generator = CountingBackend()
    channel = FileChannel(settings.channels.file)
    worker = Worker(store, {"file": channel}, generator, metrics=AgentMetrics(), batch_size=2)
    worker.poll_channels()
    result = worker.drain()
    assert generator.calls == [2, 2, 1]
    assert result.posted == 5
    assert sorted(job.key for job in store.list_jobs() if job.status == Status.posted) == sorted(
        case.case_id for case in cases
    )


class EchoingBackend(TemplateBackend):
    """Fault injection: a backend that returns (part of) its prompt, as a broken model or server does."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        from dataclasses import replace

        letters = super().generate(conversations, max_new_tokens=max_new_tokens)
        return [replace(g, text=g.text + self.tail) for g in letters]


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>", "chat-template token <|eot_id|>"),
        ("\nSchreiben Sie jetzt den Brief.", "prompt instruction"),
        ("\nErfinden Sie keine Termine. Nennen Sie nur die im Faktenblock aufgeführten Termine.", "prompt instruction"),
        ("\n## Strahlentherapie\n- Status: abgeschlossen\n- Intention: kurativ", "facts-block heading"),
    ],
)
def test_a_draft_with_prompt_text_fails_its_job_and_is_never_posted(settings: Settings, tail: str, reason: str) -> None:
    _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=0, error=RuntimeError())
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    worker = Worker(store, {"file": channel}, EchoingBackend(tail), retry=RetryStrategy(5, 0, 0))
    worker.poll_channels()
    result = worker.drain()
    (job,) = store.list_jobs()
    assert (result.posted, result.dead, result.retrying) == (0, 1, 0)  # dead at once: no retry of the same prompt
    assert channel.calls == 0 and job.status == Status.dead and job.draft_text is None
    assert job.last_error is not None and "draft contains prompt text" in job.last_error and reason in job.last_error
    assert "permanent" in job.last_error


def test_every_draft_is_fact_checked_and_the_write_back_carries_the_findings(settings: Settings) -> None:
    import json

    _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=0, error=RuntimeError())
    worker = _worker(settings, channel)
    worker.poll_channels()
    worker.drain()
    (job,) = worker.store.list_jobs()
    assert job.status == Status.posted
    assert job.draft_meta["findings"] == "0" and job.draft_meta["contradicted"] == "0"
    assert json.loads(job.draft_meta["fact_check"]) == []
    assert job.draft_meta["omitted"] == "0" and json.loads(job.draft_meta["omitted_facts"]) == []
    assert job.posted_document is not None
    sidecar = json.loads(Path(job.posted_document).with_suffix(".json").read_text())
    assert (sidecar["fact_check_findings"], sidecar["fact_check_contradicted"], sidecar["truncated"]) == (0, 0, False)
    assert sidecar["key_facts_not_stated"] == 0


class WrongDose(TemplateBackend):
    """Fault injection: the template letter with the course total replaced by a near, wrong one."""

    def __init__(self, written: str, wrong: str, *, truncated: bool = False) -> None:
        super().__init__()
        self.written, self.wrong, self.truncated = written, wrong, truncated

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        from dataclasses import replace

        out = super().generate(conversations, max_new_tokens=max_new_tokens)
        return [replace(g, text=g.text.replace(self.written, self.wrong), truncated=self.truncated) for g in out]


def _wrong_dose(settings: Settings) -> tuple[float, str, str]:
    """Drop one case; its total dose, as a letter writes it, and a near wrong total."""
    total = _drop(settings, 1)[0].course.volumes[0].total_dose_gy
    assert total is not None
    written, wrong = (f"{t:g}".replace(".", ",") + " Gy" for t in (total, total + 2))
    return total, written, wrong


def _one_job(settings: Settings, generator: Any, **worker: Any) -> Job:
    """Run a worker with ``generator`` over the file channel until nothing is due; the one job it made."""
    assert settings.channels.file is not None
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    runner = Worker(store, {"file": FileChannel(settings.channels.file)}, generator, **worker)
    runner.poll_channels()
    runner.drain()
    (job,) = store.list_jobs()
    return job


def test_a_wrong_dose_in_a_draft_is_stored_as_a_contradicted_finding(settings: Settings) -> None:
    total, written, wrong = _wrong_dose(settings)
    job = _one_job(settings, WrongDose(written, wrong, truncated=True), retry=RetryStrategy(1, 0, 0))
    assert job.status == Status.posted  # findings do not stop a draft: the physician sees them
    assert int(job.draft_meta["contradicted"]) >= 1 and job.draft_meta["truncated"] == "true"
    kinds = {(f["finding"], f["kind"]) for f in json.loads(job.draft_meta["fact_check"])}
    assert ("contradicted", "dose") in kinds
    # the true total is stated nowhere now: an omission the reviewer is told of, beside the wrong value
    left_out = json.loads(job.draft_meta["omitted_facts"])
    assert {"kind": "dose", "value": f"{total:g}"} in [{"kind": f["kind"], "value": f["value"]} for f in left_out]
    assert job.draft_meta["omitted"] == str(len(left_out))
    assert job.posted_document is not None
    sidecar = json.loads(Path(job.posted_document).with_suffix(".json").read_text())
    assert sidecar["fact_check_contradicted"] >= 1 and sidecar["truncated"] is True
    assert sidecar["key_facts_not_stated"] == len(left_out)


def test_a_faulted_draft_is_redrafted_and_the_posted_one_records_how_it_was_chosen(settings: Settings) -> None:
    _, written, wrong = _wrong_dose(settings)

    class WrongFirst(WrongDose):  # the first draft states a wrong dose, the second and third samples do not
        seeds: list[int] = []

        def sample(self, conversations: list[Any], *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[Any]:
            self.seeds.append(seed)
            faulted, clean = self.generate(conversations)[0], TemplateBackend().generate(conversations)[0]
            return [[faulted, clean, clean][:n]]

    job = _one_job(settings, WrongFirst(written, wrong), redraft=3)
    assert job.status == Status.posted and WrongFirst.seeds == [job.id]
    assert job.draft_meta["contradicted"] == "0" and wrong not in (job.draft_text or "")
    chosen = json.loads(job.draft_meta["redraft"])
    assert (chosen["candidates"], chosen["picked"]) == (3, 2)
    assert "contradicted 0" not in chosen["first"]
    assert chosen["posted"] == "leaked false, contradicted 0, truncated false, other 0, non-words 0"
    assert "non_words" not in job.draft_meta  # no word list: not counted


def test_a_draft_with_words_the_site_never_wrote_is_redrafted_and_they_are_listed(settings: Settings) -> None:
    from rtletter.mappers.prompt import build_messages
    from rtletter.model.vocabulary import words

    (case,) = _drop(settings, 1)
    site = frozenset(words(TemplateBackend().generate([build_messages(case)])[0].text))  # the site writes as it does

    class Garbled(TemplateBackend):  # the first draft holds a fragment, its samples: a word-less one, then the clean
        def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
            from dataclasses import replace

            out = super().generate(conversations, max_new_tokens=max_new_tokens)
            return [replace(g, text=g.text.replace("Verlauf", "Verlauf Bildgebjährlich", 1)) for g in out]

        def sample(self, conversations: list[Any], *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[Any]:
            return [[self.generate(conversations)[0], TemplateBackend().generate(conversations)[0]][:n]]

    job = _one_job(settings, Garbled(), redraft=2, site_words=site)
    chosen = json.loads(job.draft_meta["redraft"])
    assert chosen["picked"] == 2 and chosen["first"].endswith(", non-words 1")
    assert json.loads(job.draft_meta["non_words"]) == [] and "Bildgebjährlich" not in (job.draft_text or "")


def test_a_backend_that_fails_to_sample_costs_the_redraft_not_the_draft(settings: Settings) -> None:
    from rtletter.model.errors import BackendError

    _, written, wrong = _wrong_dose(settings)

    class CannotSample(WrongDose):  # a server without n choices
        def sample(self, conversations: list[Any], *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[Any]:
            raise BackendError("http://127.0.0.1:8000/v1/chat/completions: asked for 8 choices")

    job = _one_job(settings, CannotSample(written, wrong), redraft=8)
    assert job.status == Status.posted and wrong in (job.draft_text or "")
    assert int(job.draft_meta["contradicted"]) >= 1 and "redraft" not in job.draft_meta


def test_a_draft_no_candidate_mends_gives_way_to_the_template_letter(settings: Settings) -> None:
    from rtletter.agent.jobs.worker import redraft_choice

    _, written, wrong = _wrong_dose(settings)
    job = _one_job(settings, WrongDose(written, wrong), redraft=0, fallback=TemplateBackend())
    assert job.status == Status.posted and wrong not in (job.draft_text or "") and written in (job.draft_text or "")
    assert job.draft_meta["contradicted"] == "0" and job.draft_meta["model"] == TemplateBackend.model_name
    chosen = json.loads(job.draft_meta["redraft"])
    assert "contradicted 0" not in chosen["template"] and chosen["posted"].startswith("leaked false, contradicted 0")
    assert redraft_choice(job.draft_meta) == "the site's template letter posted: the model's draft was faulted"


class BodyBackend(TemplateBackend):
    """A model stand-in that writes a fixed body and keeps the system prompt it was given."""

    def __init__(self, body: str) -> None:
        super().__init__(scaffold=True)
        self.body = body
        self.systems: list[str] = []
        self.user_prompts: list[str] = []

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Any]:
        from dataclasses import replace

        self.systems += [c[0]["content"] for c in conversations]
        self.user_prompts += [c[1]["content"] for c in conversations]
        drafts = super().generate(conversations, max_new_tokens=max_new_tokens)
        return [replace(g, text=self.body) for g in drafts]


def test_with_a_site_the_posted_letter_is_the_site_letter_around_the_generated_body(settings: Settings) -> None:
    from rtletter.mappers.scaffold import Site, compose_letter

    (case,) = _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=0, error=RuntimeError())
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    site = Site(institution="Uniklinik Teststadt", head="Prof. Dr. Kopf", town="Teststadt")
    body = "Diagnose(n):\n- Rektumkarzinom (C20)\n\nNachsorge:\nIn drei Monaten."
    generator = BodyBackend(body)
    clock = lambda: datetime(2026, 4, 14, 9, 0, tzinfo=UTC)  # noqa: E731
    worker = Worker(store, {"file": channel}, generator, retry=RetryStrategy(1, 0, 0), clock=clock, site=site)
    worker.poll_channels()
    assert worker.drain().posted == 1
    (job,) = store.list_jobs()
    letter = job.draft_text or ""
    assert letter == compose_letter(case, body, site, letter_date=datetime(2026, 4, 14).date())
    assert (
        letter.startswith("Uniklinik Teststadt\nDirektor: Prof. Dr. Kopf\n") and "Teststadt, den 14.04.2026" in letter
    )
    assert f"\n\n{body}\n\nFür Rückfragen" in letter and "Prof. Dr. Kopf\nKlinikdirektor" in letter
    assert "nur die Abschnitte 2 bis 7" in generator.systems[0]  # the prompt asked for the body only
    # without a site the generated text is the letter, and the prompt asks for all of it
    (other,) = _drop(settings, 2)[1:]
    plain = BodyBackend(body)
    worker = Worker(store, {"file": channel}, plain, retry=RetryStrategy(1, 0, 0))
    worker.poll_channels()
    worker.drain()
    job = next(j for j in store.list_jobs() if j.key == other.case_id)
    assert job.draft_text == body and "8. Grußformel" in plain.systems[0]


def test_with_fact_slots_the_worker_prompts_with_slot_ids_fills_them_and_keeps_their_sources(
    settings: Settings,
) -> None:
    from rtletter.mappers.slots import case_slots, render_value

    (case,) = _drop(settings, 1)
    assert settings.channels.file is not None
    channel = FlakyChannel(settings.channels.file, failures=0, error=RuntimeError())
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    body = "Strahlentherapie:\nGD [dose_total.1] in [fx.1] Fraktionen, Boost [dose_total.9]."
    generator = BodyBackend(body)
    worker = Worker(store, {"file": channel}, generator, retry=RetryStrategy(1, 0, 0), fact_slots=True)
    worker.poll_channels()
    assert worker.drain().posted == 1
    (job,) = store.list_jobs()
    table = case_slots(case)
    total, fractions = render_value(table["dose_total.1"], "de"), render_value(table["fx.1"], "de")
    assert job.draft_text == f"Strahlentherapie:\nGD {total} in {fractions} Fraktionen, Boost [[? dose_total.9]]."
    sources = json.loads(job.draft_meta["slot_sources"])
    assert sources[0] == {"slot": "dose_total.1", "value": total, "source": table["dose_total.1"].source}
    # the id the case does not hold is a visible gap and a finding of the draft-time check
    findings = json.loads(job.draft_meta["fact_check"])
    assert {"kind": "slot", "value": "dose_total.9"}.items() <= findings[-1].items()
    assert "[dose_total.1] " in generator.user_prompts[0]  # the prompt listed the ids
