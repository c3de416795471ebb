"""The MLLP channel without the network where none is needed: intake mapping, write-back decisions, config, wiring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtletter.agent.channels.base import Draft, Inbound
from rtletter.agent.channels.mllp import MllpChannel
from rtletter.agent.config import MllpChannelSettings, MllpOutbound, load_settings
from rtletter.agent.errors import ChannelRejected, ChannelUnavailable, ConfigError
from rtletter.agent.hl7v2.client import Acknowledgement, MllpClientError
from rtletter.agent.hl7v2.listener import HL7_V2, Limits
from rtletter.agent.service import build_channels
from rtletter.demo.sandbox import free_port
from rtletter.demo.synth.generate import generate_cohort
from rtletter.mappers.checks import split_drafted
from rtletter.mappers.errors import MappingError, UnsupportedInput
from rtletter.mappers.hl7v2.mdm import control_id

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "external" / "hl7v2"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def patient() -> Any:
    return generate_cohort(1, seed=5)[0]


def inbound(payload: bytes, **meta: str) -> Inbound:
    return Inbound("mllp", "k", payload, HL7_V2, NOW, meta)


def draft(text: str = "Sehr geehrte Kollegin,\nalles gut.") -> Draft:
    return Draft("c", text, "de", "base-model+adapter-3", 10, 20, NOW)


def test_finished_course_becomes_a_case(patient: Any) -> None:
    channel = MllpChannel(MllpChannelSettings())
    cases = channel.fetch_context(inbound(patient.v2, encoding=patient.v2_encoding, message_type="ORU^R01"))
    assert [c.case_id for c in cases] == [f"hl7v2:{patient.case.course.id}"]
    assert cases[0].patient.id == patient.case.patient.id


def test_messages_without_a_finished_course_make_no_job() -> None:
    """The channel maps; the rule every channel shares (mappers.checks) decides that these make no job."""
    channel = MllpChannel(MllpChannelSettings())
    for name, message_type in (("msft-ADT-A08-01.hl7", "ADT^A08"), ("msft-MDM-T02-01.hl7", "MDM^T02")):
        cases = channel.fetch_context(inbound((FIXTURES / name).read_bytes(), message_type=message_type))
        kept, reasons = split_drafted(cases)
        assert kept == [] and reasons == ["course status unknown: only a completed or stopped course is drafted"]


def test_empty_msh18_uses_the_listeners_encoding(patient: Any) -> None:
    text = patient.v2.decode(patient.v2_encoding)
    latin1 = text.replace("UNICODE UTF-8", "").replace("8859/1", "").encode("latin-1", errors="replace")
    channel = MllpChannel(MllpChannelSettings(encoding="latin-1"))
    case = channel.fetch_context(inbound(latin1, encoding="latin-1"))[0]
    assert case.patient.family == patient.case.patient.family  # umlauts read as latin-1, not mojibake
    with pytest.raises(MappingError, match="MSH-18"):
        MllpChannel(MllpChannelSettings(encoding="utf-8")).fetch_context(inbound(latin1))


def test_not_hl7_is_unsupported() -> None:
    with pytest.raises(UnsupportedInput):
        MllpChannel(MllpChannelSettings()).fetch_context(Inbound("mllp", "k", b"{}", "application/json", NOW))


def test_poll_returns_nothing_the_listener_stores() -> None:
    assert MllpChannel(MllpChannelSettings()).poll() == []


class Sender:
    """Fault injection for the write-back's decisions: what the receiver answers (or raises)."""

    def __init__(self, answer: Acknowledgement | Exception) -> None:
        self.answer = answer
        self.sent: list[bytes] = []

    def __call__(self, host: str, port: int, message: bytes, **kwargs: Any) -> Acknowledgement:
        self.sent.append(message)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _channel(send: Callable[..., Any]) -> MllpChannel:
    settings = MllpChannelSettings(outbound=MllpOutbound(host="127.0.0.1", port=6661, receiving_application="EHR"))
    return MllpChannel(settings, send=send)


def test_aa_means_posted_with_the_document_id(patient: Any) -> None:
    send = Sender(Acknowledgement("AA", control_id(patient.case)))
    posted = _channel(send).post_draft(patient.case, draft())
    assert posted.document.startswith("MDM^T02/") and posted.extra["ack"] == "AA"
    assert b"|EHR|" in send.sent[0] and b"TXA|1|DS|TX|" in send.sent[0]
    assert b"|base-model|" in send.sent[0] and b"|adapter-3" in send.sent[0]  # SFT: model and adapter


@pytest.mark.parametrize(
    "answer",
    [
        Acknowledgement("AE", "x"),
        Acknowledgement("AR", ""),
        Acknowledgement("CR", ""),
        MllpClientError("no acknowledgement from 127.0.0.1:6661 within 30 s"),
    ],
)
def test_nak_or_timeout_is_retryable(patient: Any, answer: Any) -> None:
    if isinstance(answer, Acknowledgement) and answer.control_id == "x":
        answer = Acknowledgement("AE", control_id(patient.case), text="Müller unknown")
    with pytest.raises(ChannelUnavailable) as caught:
        _channel(Sender(answer)).post_draft(patient.case, draft())
    assert caught.value.retryable
    assert "Müller" not in str(caught.value)  # the receiver's text may quote the message: not kept


def test_ack_for_another_message_is_not_taken_as_posted(patient: Any) -> None:
    with pytest.raises(ChannelUnavailable, match="MSA-2"):
        _channel(Sender(Acknowledgement("AA", "SOMETHING-ELSE"))).post_draft(patient.case, draft())


def test_no_outbound_or_unwritable_draft_is_permanent(patient: Any) -> None:
    with pytest.raises(ChannelRejected, match="outbound"):
        MllpChannel(MllpChannelSettings()).post_draft(patient.case, draft())
    with pytest.raises(ChannelRejected, match="empty"):
        _channel(Sender(Acknowledgement("AA", ""))).post_draft(patient.case, draft("   "))


def test_config_outbound_section_and_wiring(tmp_path: Path, config_file: Callable[..., Path]) -> None:
    path = config_file(
        channels={"mllp": {"port": 2575, "outbound": {"host": "ehr", "port": 6661, "encoding": "latin-1"}}}
    )
    settings = load_settings(path)
    assert settings.channels.mllp is not None and settings.channels.mllp.outbound is not None
    from rtletter.agent.jobs.store import JobStore

    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    store.create_tables()
    channels = build_channels(settings, store)
    assert isinstance(channels["mllp"], MllpChannel)
    store.dispose()


@pytest.mark.parametrize(
    ("outbound", "message"),
    [
        ({"host": "ehr"}, "channels.mllp.outbound.port: required"),
        ({"host": "ehr", "port": 1, "encoding": "utf-16"}, "channels.mllp.outbound.encoding: MDM is written in"),
        ({"host": "ehr", "port": 1, "tls": {"ca_file": "/nope.pem"}}, "ca_file /nope.pem does not exist"),
        ({"host": "ehr", "port": 1, "colour": "red"}, "unknown key channels.mllp.outbound.colour"),
    ],
)
def test_bad_outbound_settings_are_one_line(tmp_path: Path, outbound: dict[str, Any], message: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"channels": {"mllp": {"outbound": outbound}}}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_bad_profile_is_a_config_error(tmp_path: Path) -> None:
    profile = tmp_path / "site.yaml"
    profile.write_text("name: x\nobservations: {not_a_role: X1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="channels.mllp.profile"):
        MllpChannel(MllpChannelSettings(profile=profile))


def test_listener_lifecycle_and_readiness(tmp_path: Path, patient: Any) -> None:
    import socket

    from rtletter.agent.hl7v2.client import send_message
    from rtletter.agent.jobs.store import JobStore

    store = JobStore(f"sqlite:///{tmp_path / 'l.db'}")
    store.create_tables()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{busy}"):
            MllpChannel(MllpChannelSettings(port=busy), store).start_listener()
    free = busy  # released just now
    channel = MllpChannel(MllpChannelSettings(port=free), store)
    listener = channel.start_listener()
    try:
        channel.ready()
        message = patient.v2.replace(b"|NE|NE|", b"|||", 1)
        assert send_message("127.0.0.1", free, message, timeout_s=10).code == "AA"
        listener.stop()  # the listener dies under the channel
        with pytest.raises(ChannelUnavailable, match="not running"):
            channel.ready()
    finally:
        channel.close()
    channel.ready()  # closed on purpose: nothing to report
    assert len(store.list_inbound()) == 1
    store.dispose()


def test_the_listener_gets_the_configured_limits(tmp_path: Path) -> None:
    from rtletter.agent.jobs.store import JobStore

    store = JobStore(f"sqlite:///{tmp_path / 'l.db'}")
    store.create_tables()

    settings = MllpChannelSettings(
        port=free_port(), max_connections=7, frame_timeout_s=5, max_buffered_bytes=1000, silent_timeout_s=9
    )
    channel = MllpChannel(settings, store)
    try:
        limits = channel.start_listener().limits
    finally:
        channel.close()
    assert limits == Limits(max_connections=7, frame_timeout_s=5, max_buffered_bytes=1000, silent_timeout_s=9)
    assert MllpChannelSettings().silent_timeout_s == 600  # 10 minutes by default
    store.dispose()
