"""Polling the real sandbox FHIR server for finished course summaries: found once, in-progress ignored, a change to
completed found, a later version reported as an update, paging followed, nothing lost after a crash."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.poller import MARK_KEY, START_KEY, CoursePoller
from rtletter.agent.fhir.state import JsonFileState, MemoryState

pytestmark = pytest.mark.integration


def course_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].startswith("RadiotherapyCourseSummary"))


def keys(inbounds: list) -> dict[str, str]:
    return {i.meta["resource"]: i.meta["event"] for i in inbounds}


def test_poll_finds_finished_courses_once_and_follows_status_changes(
    fhir_server: str, load_bundle, example_bundle
) -> None:  # type: ignore[no-untyped-def]
    since = datetime.now(UTC) - timedelta(seconds=5)
    done = example_bundle("xrts-04-breast-3p-3v")
    running = example_bundle("xrts-01-prostate-1p-1v")
    also_done = example_bundle("xrts-02-prostate-2p-1v")
    course_of(running)["status"] = "in-progress"
    load_bundle(also_done)
    load_bundle(done)
    load_bundle(running)
    done_ref = f"Procedure/{course_of(done)['id']}"
    running_ref = f"Procedure/{course_of(running)['id']}"

    with FhirClient(fhir_server) as client:
        poller = CoursePoller(client, MemoryState(), page_size=1, since=since, overlap_s=60)
        first = poller.poll()
        assert keys(first).get(done_ref) == "completed"
        assert keys(first).get(f"Procedure/{course_of(also_done)['id']}") == "completed"
        assert running_ref not in keys(first)
        assert client.round_trips >= 2  # one page per result: the next links were followed
        inbound = next(i for i in first if i.meta["resource"] == done_ref)
        assert inbound.key == f"{done_ref}/_history/1"
        assert json.loads(inbound.payload)["id"] == course_of(done)["id"]

        assert poller.poll() == []  # the overlap window brings the same versions back: deduped

        finished = copy.deepcopy(course_of(running))
        finished["status"] = "completed"
        client.update(finished)
        assert keys(poller.poll()) == {running_ref: "completed"}

        corrected = client.read("Procedure", course_of(done)["id"])
        corrected["note"] = [{"text": "Korrektur der Einzeldosis"}]
        client.update(corrected)
        assert keys(poller.poll()) == {done_ref: "updated"}
        assert poller.poll() == []


def test_a_crash_before_the_events_are_stored_delivers_them_again(
    fhir_server: str, load_bundle, example_bundle, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    since = datetime.now(UTC) - timedelta(seconds=5)
    bundle = example_bundle("xrts-06-uterus-1p-1v")
    load_bundle(bundle)
    ref = f"Procedure/{course_of(bundle)['id']}"
    state_file = tmp_path / "poll-state.json"
    with FhirClient(fhir_server) as client:
        crashed = CoursePoller(client, JsonFileState(state_file), since=since)
        assert ref in keys(crashed.poll())  # ... and the process dies before the job store stored it

        restarted = CoursePoller(client, JsonFileState(state_file), since=since)
        assert ref in keys(restarted.poll())  # delivered again
        assert ref not in keys(restarted.poll())  # the second poll committed the first one's state
        assert JsonFileState(state_file).get(MARK_KEY)  # the mark is persisted


def test_the_first_start_takes_only_what_changes_from_then_on(
    fhir_server: str, load_bundle, example_bundle, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    history = example_bundle("xrts-03-prostate-1p-3v")  # finished before the agent ever ran
    load_bundle(history)
    history_ref = f"Procedure/{course_of(history)['id']}"
    running = example_bundle("xrts-07-uterus-1p-1v")
    course_of(running)["status"] = "in-progress"
    load_bundle(running)
    running_ref = f"Procedure/{course_of(running)['id']}"
    state_file = tmp_path / "poll-state.json"
    with FhirClient(fhir_server) as client:
        first = CoursePoller(client, JsonFileState(state_file), overlap_s=60)  # poll_start: first-start
        assert history_ref not in keys(first.poll())  # go-live drafts nothing of the server's history
        started = JsonFileState(state_file).get(START_KEY)
        assert started and first.params()[-1] == ("_lastUpdated", f"ge{started}")

        finished = copy.deepcopy(course_of(running))
        finished["status"] = "completed"
        client.update(finished)
        assert keys(first.poll()) == {running_ref: "completed"}  # a change after the start is found

        restarted = CoursePoller(client, JsonFileState(state_file), overlap_s=3600)  # a restart keeps the start
        assert JsonFileState(state_file).get(START_KEY) == started
        assert dict(restarted.params())["_lastUpdated"] == f"ge{started}"  # the overlap never reaches before it
        assert history_ref not in keys(restarted.poll())
