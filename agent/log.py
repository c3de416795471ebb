"""structlog set-up for the agent: JSON lines with a redaction processor in front of every renderer.

PHI must never reach a log. The agent logs ids of its own rows (inbound id, job id), steps, states, counts and
timings; the redaction processor is the safety net for everything else:

- keys that name patient data (``name``, ``birth_date``, ``text``, ``payload``, ``case`` ...) are replaced by
  ``"[redacted]"``, whatever their value;
- containers (dicts, lists, pydantic models) are redacted whole: they may hold anything;
- string values lose whatever looks like a date (``1961-04-12``, ``12.04.1961``) or an identifier (a run of 5 or
  more digits, or letters and digits mixed such as ``MRN0042A``);
- exceptions are logged by type only: a foreign exception's message may quote data.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

REDACTED = "[redacted]"
# Keys whose values are patient data or may contain it (lower case; "-" and "_" are ignored when comparing).
PHI_KEYS = frozenset(
    {
        "name",
        "given",
        "family",
        "patient",
        "patientname",
        "birthdate",
        "dob",
        "address",
        "mrn",
        "identifier",
        "patientid",
        "text",
        "note",
        "notes",
        "payload",
        "body",
        "case",
        "casejson",
        "draft",
        "drafttext",
        "letter",
        "file",
        "filename",
        "path",
        "key",
        "meta",
        "message",
    }
)
# Keys the agent itself sets to values it controls: passed through untouched.
SAFE_KEYS = frozenset({"event", "level", "timestamp", "logger", "exc_type"})
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{2,4}|\d{8})\b")
_IDENTIFIER = re.compile(r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9-]{4,}\b|\b\d{5,}\b")


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


# Names that look like identifiers but are locations, kept readable: HL7 v2 segment-field names (MSH-9, OBX[3]-5,
# PV1-44, DG1-3.3) and the port of a loopback or IP peer (127.0.0.1:2575, [::1]:2575, localhost:2575).
_SEGMENTS = (
    "MSH|EVN|PID|PD1|PV1|PV2|NK1|DG1|PR1|OBX|OBR|ORC|AL1|NTE|TXA|MSA|ERR|FHS|FTS|BHS|BTS|SFT|ROL|GT1|IN1|IN2|"
    "SCH|AIS|AIG|AIL|AIP|RGS|FT1|TQ1|SPM|ACC|UB1|UB2|PDA|ARV|DB1|Z[A-Z0-9]{2}"
)
_LOCATION = re.compile(
    rf"\b(?:{_SEGMENTS})(?:\[\d{{1,4}}\])?-\d{{1,3}}(?:\.\d{{1,3}}){{0,2}}\b"
    r"|(?:\b(?:\d{1,3}\.){3}\d{1,3}|\[[0-9A-Fa-f:.]+\]|\blocalhost):\d{1,5}\b"
)


def scrub(text: str) -> str:
    """Mask dates and identifier-like tokens in a free string; field names, segment names and peers' ports stay."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    masked = _IDENTIFIER.sub("[id]", _DATE.sub("[date]", _LOCATION.sub(keep, text)))
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], masked) if kept else masked


def redact_phi(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: see the module docstring."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        error = sys.exc_info()[1] if exc_info is True else exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(error, BaseException):
            event_dict["exc_type"] = type(error).__name__
    event_dict.pop("stack_info", None)
    for key in list(event_dict):
        value = event_dict[key]
        if key in SAFE_KEYS:
            continue
        if _normal(key) in PHI_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, bool | int | float) or value is None:
            continue
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
        else:
            event_dict[key] = REDACTED
    return event_dict


def configure_logging(level: str = "INFO", *, json_output: bool = True, stream: TextIO | None = None) -> None:
    """Set up structlog for the process (call once in the entry point)."""
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact_phi,  # before the time stamp: the stamp is ours and must stay readable
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or cast(TextIO, _Stderr())),
        cache_logger_on_first_use=False,
    )


class _Stderr:
    """``sys.stderr`` as it is at write time: a CLI runner or test that swaps it (and closes its own) later must not
    leave the process logging into a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _ToStructlog(logging.Handler):
    """A library's stdlib log records into our redacted JSON log: the static message (the format string, not its
    arguments) and the exception type only. A traceback would quote the exception's message, which may carry
    patient data; a plain text line would break the JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"source": record.name, "detail": str(record.msg)[:200]}
        if record.exc_info and record.exc_info[1] is not None:
            fields["exc_type"] = type(record.exc_info[1]).__name__
        level = record.levelname.lower()
        method = level if level in ("debug", "info", "warning", "error", "critical") else "error"
        getattr(get_logger(record.name), method)("library log", **fields)


def route_stdlib_logs(*names: str, level: int = logging.WARNING) -> None:
    """Send these stdlib loggers (uvicorn, apscheduler) through structlog, at ``level`` and above."""
    handler = _ToStructlog(level)
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def error_fields(exc: BaseException) -> dict[str, str]:
    """How an unexpected exception is logged: its type, and its message only where rtletter wrote it without PHI
    (``AgentError``, ``MappingError``); a foreign exception's message may quote data."""
    from rtletter.agent.errors import AgentError
    from rtletter.mappers.errors import MappingError

    fields = {"error": type(exc).__name__}
    if isinstance(exc, AgentError | MappingError):
        fields["detail"] = scrub(str(exc))[:200]
    return fields


def log_loop_errors(loop: Any, logger: Any) -> None:
    """Route an asyncio loop's unhandled errors (a callback or task that raised) into ``logger``: asyncio's default
    handler prints a raw traceback to stderr, outside the JSON log, quoting the exception's message."""

    def handler(_loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        fields = error_fields(exc) if isinstance(exc, BaseException) else {}
        logger.error("event loop error", where=str(context.get("message", ""))[:200], **fields)

    loop.set_exception_handler(handler)
