"""FHIR AuditEvents for the agent's reads and writes of patient data, sent to the server when a site asks for it
(``channels.fhir.audit_events``); the job store's audit table records them in any case.

One AuditEvent per step and case (IHE BALP-like, R4): ``type`` rest, ``subtype`` the interaction (search-type for
the context read, create for the draft), ``action`` R or C, ``agent`` this agent as the requestor, ``entity`` the
patient (role patient) and the resources read or written, by reference only: no names, no text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rtletter.agent.fhir.client import Resource
from rtletter.mappers.codes import (
    AUDIT_ENTITY_TYPE,
    AUDIT_EVENT_TYPE,
    OBJECT_ROLE,
    PARTICIPATION_TYPE,
    RESTFUL_INTERACTION,
    SECURITY_SOURCE_TYPE,
)

AGENT_NAME = "rtletter agent"


def _reference(value: str) -> str:
    """``Patient/1/_history/2`` -> ``Patient/1/_history/2`` (a versioned reference is kept: it says what was read)."""
    return value.strip("/")


def audit_event(
    action: str, interaction: str, patient: str | None, entities: Iterable[str], *, now: datetime | None = None
) -> Resource:
    """``action``: R (read) or C (create); ``interaction``: a restful-interaction code; references as strings."""
    entity: list[dict[str, Any]] = []
    if patient:
        entity.append(
            {
                "what": {"reference": _reference(patient)},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    seen = {e["what"]["reference"] for e in entity}
    for ref in entities:
        ref = _reference(ref)
        if ref and ref not in seen:
            seen.add(ref)
            entity.append({"what": {"reference": ref}, "type": {"system": AUDIT_ENTITY_TYPE, "code": "2"}})
    return {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL_INTERACTION, "code": interaction}],
        "action": action,
        "recorded": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": "0",
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "AUT", "display": "author (originator)"}]},
                "who": {"display": AGENT_NAME},
                "requestor": True,
            }
        ],
        "source": {
            "observer": {"display": AGENT_NAME},
            "type": [{"system": SECURITY_SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entity,
    }
