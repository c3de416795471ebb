"""The embedded-default channel: folders instead of an EHR.

- ``inbox/``: drop FHIR bundles (``.json``), HL7 v2 messages (``.hl7``, ``.txt``) or normalised cases
  (``.case.json``, as ``rtletter case`` prints them). A file is read once it is complete: names ending in ``.part``
  or ``.tmp`` and dot-files are ignored (write there, then rename), and a file must be unchanged for ``settle_s``
  seconds. It is deleted from the inbox only after its bytes are committed to the job store (``acknowledge``), so
  a crash at any point leaves it either in the inbox or in the store: never lost.
- ``outbox/``: per course ``<name>.txt`` (the letter, UTF-8), ``<name>.json`` (a small sidecar: what, by which
  model, text hash) and, when the case carries FHIR references, ``<name>.bundle.json`` (the FHIR transaction the
  FHIR channel would post). The name derives from the course key and the files are replaced atomically, so a
  retried post converges on one draft.
- ``quarantine/``: a file that cannot be mapped, under its original name, with ``<name>.error.txt`` beside it
  holding the one-line mapping error (no PHI: mapper errors name resource and element only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from rtletter.agent.channels.base import Draft, Inbound, Posted
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs.schema import utcnow
from rtletter.mappers.case import Case
from rtletter.mappers.errors import InvalidValue, MappingError, UnsupportedInput

CASE_JSON = "application/x-rtletter-case+json"
FHIR_JSON = "application/fhir+json"
HL7_V2 = "x-application/hl7-v2+er7"
# Suffix -> content type. Checked longest first (".case.json" before ".json").
CONTENT_TYPES: dict[str, str] = {".case.json": CASE_JSON, ".json": FHIR_JSON, ".hl7": HL7_V2, ".txt": HL7_V2}
IGNORED_SUFFIXES = (".part", ".tmp", ".error.txt")
_cases_adapter = TypeAdapter(list[Case])
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _content_type(name: str) -> str:
    lower = name.lower()
    return next((t for suffix, t in CONTENT_TYPES.items() if lower.endswith(suffix)), "application/octet-stream")


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a sibling temp file, fsync, rename: readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def json_bytes(data: object) -> bytes:
    """The outbox's JSON: indented, UTF-8, umlauts as they are."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def draft_basename(case_id: str) -> str:
    """A stable, file-system-safe name for a course's draft files."""
    digest = hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:12]
    slug = _UNSAFE.sub("_", case_id).strip("._")[:80] or "case"
    return f"{slug}-{digest}"


def load_case_json(payload: bytes) -> list[Case]:
    """Cases in rtletter's own JSON (one object or a list). Errors name the element, never the value."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidValue("not valid UTF-8 JSON", resource="Case") from None
    try:
        return _cases_adapter.validate_python(data if isinstance(data, list) else [data])
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        raise InvalidValue(first["msg"], resource="Case", element=where or None) from None


def _map_source(payload: bytes) -> list[Case]:
    try:
        from rtletter.mappers.load import load_cases
    except ImportError:
        raise UnsupportedInput("FHIR/HL7 v2 mapping is not installed (rtletter.mappers.load)") from None
    return load_cases(payload)


class FileChannel:
    """Folders in, folders out. See the module docstring."""

    name = "file"

    def __init__(
        self,
        settings: FileChannelSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        map_source: Callable[[bytes], list[Case]] = _map_source,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.map_source = map_source
        for folder in (settings.inbox, settings.outbox, settings.quarantine):
            folder.mkdir(parents=True, exist_ok=True)

    def ready(self) -> None:
        """Readiness: the three folders exist and we may write to them."""
        for label, folder in (("inbox", self.settings.inbox), ("outbox", self.settings.outbox),
                              ("quarantine", self.settings.quarantine)):  # fmt: skip
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise OSError(f"file channel {label} folder is missing or not writable")

    # --- in -----------------------------------------------------------------------------------------------------

    def _ready(self, path: Path) -> bool:
        name = path.name
        if name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES) or not path.is_file():
            return False
        age = self.clock().timestamp() - path.stat().st_mtime
        return age >= self.settings.settle_s

    def poll(self) -> list[Inbound]:
        """Every complete file in the inbox, oldest name first. The files stay until ``acknowledge``."""
        events = []
        for path in sorted(self.settings.inbox.iterdir()):
            if not self._ready(path):
                continue
            try:
                payload = path.read_bytes()
            except OSError:
                continue  # removed or locked meanwhile: the next poll sees it again
            digest = hashlib.sha256(payload).hexdigest()
            events.append(
                Inbound(
                    channel=self.name,
                    key=f"sha256:{digest}",  # the content, not the name: the same file dropped twice is one event
                    payload=payload,
                    content_type=_content_type(path.name),
                    received_at=self.clock(),
                    meta={"file": path.name},
                )
            )
        return events

    def acknowledge(self, inbound: Inbound) -> None:
        """The event is durably stored: take it out of the inbox (unless it was rewritten meanwhile)."""
        path = self.settings.inbox / inbound.meta.get("file", "")
        try:
            if path.is_file() and f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" == inbound.key:
                path.unlink()
        except OSError:
            pass  # still there: the next poll finds it again and the store ignores the replay

    def quarantine(self, inbound: Inbound, reason: str) -> Path:
        """Write the raw file and ``<name>.error.txt`` into the quarantine folder; returns the file's new path."""
        name = Path(inbound.meta.get("file") or inbound.key.replace(":", "-")).name
        target = self.settings.quarantine / name
        if target.exists() and target.read_bytes() != inbound.payload:
            target = target.with_name(f"{inbound.key.split(':')[-1][:12]}-{name}")
        write_atomic(target, inbound.payload)
        write_atomic(target.with_name(target.name + ".error.txt"), (reason.splitlines() or [""])[0].encode() + b"\n")
        return target

    def fetch_context(self, inbound: Inbound) -> list[Case]:
        """Map the file: everything a letter needs is inside it (a bundle, a message, a case)."""
        if inbound.content_type == CASE_JSON:
            return load_case_json(inbound.payload)
        if inbound.content_type in (FHIR_JSON, HL7_V2):
            return self.map_source(inbound.payload)
        raise UnsupportedInput("file type not supported (.json, .hl7, .txt or .case.json)")

    # --- out ----------------------------------------------------------------------------------------------------

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        """Write the letter, its sidecar and (where possible) the FHIR transaction; same names on every retry."""
        base = self.settings.outbox / draft_basename(case.case_id)
        text = draft.text.encode("utf-8")
        sidecar: dict[str, object] = {
            "case_id": case.case_id,
            "language": draft.language,
            "model": draft.model,
            "prompt_tokens": draft.prompt_tokens,
            "completion_tokens": draft.completion_tokens,
            "generated_at": draft.generated_at.isoformat(),
            "sha256": hashlib.sha256(text).hexdigest(),
            "status": "preliminary",
        }
        if draft.check is not None:  # the draft-time check, as the FHIR Task and the MDM carry it
            sidecar["fact_check_findings"] = draft.check.findings
            sidecar["fact_check_contradicted"] = draft.check.contradicted
            sidecar["truncated"] = draft.check.truncated
            sidecar["key_facts_not_stated"] = draft.check.omitted
        bundle = self._fhir_transaction(case, draft, sidecar)
        extra: dict[str, str] = {"sidecar": str(base.with_suffix(".json"))}
        if bundle is not None:
            bundle_path = base.with_name(base.name + ".bundle.json")
            write_atomic(bundle_path, json_bytes(bundle))
            extra["bundle"] = str(bundle_path)
        write_atomic(base.with_suffix(".json"), json_bytes(sidecar))
        write_atomic(base.with_suffix(".txt"), text)  # last: the letter's presence means the set is complete
        return Posted(document=str(base.with_suffix(".txt")), extra=extra)

    def _fhir_transaction(self, case: Case, draft: Draft, sidecar: dict[str, object]) -> dict[str, object] | None:
        try:
            from rtletter.mappers.fhir import draft_transaction
        except ImportError:
            sidecar["fhir_bundle"] = "not available in this installation"
            return None
        base_model, _, adapter = draft.model.partition("+")  # Draft.model: "<base model>+<adapter version>"
        try:
            return draft_transaction(
                case,
                draft.text,
                model_name=base_model,
                adapter_version=adapter or "none",
                language=draft.language,
                responsible=None,
                now=draft.generated_at,
                check=draft.check,
            )
        except MappingError as exc:  # e.g. an HL7 v2 case has no FHIR Patient to refer to
            sidecar["fhir_bundle"] = f"skipped: {exc}"
            return None
