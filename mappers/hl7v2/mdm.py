"""The draft letter -> one MDM^T02 v2.5.1 message (original document notification and content), built with hl7apy.

For sites that take documents only over HL7 v2. Layout (HL7 v2.5.1 chapter 9, MDM_T02):

- MSH: MSH-3 the profile's sending application, MSH-5/-6 the receiver, MSH-7 ``now``, MSH-9 ``MDM^T02^MDM_T02``,
  MSH-10 derived from the document id (a resent draft keeps its control id), MSH-18 the character set, MSH-19 the
  letter language.
- SFT: the software and model that wrote the draft (SFT-2 model, SFT-4 adapter version).
- EVN-1 T02, EVN-2 ``now``. PID: PID-3 patient id (MR), PID-5 name, PID-7 birth date, PID-8 sex. PV1-2 U.
- TXA: TXA-2 document type (table 0270, default DS), TXA-3 TX, TXA-4 activity time, TXA-5 treating physician
  (who signs), TXA-12 unique document number = the deterministic draft id the FHIR write-back uses too (a retried
  or duplicated job converges on one document at the receiver), TXA-15 filler order number = the course id,
  TXA-17 completion status **IP** (in progress: a draft, not yet signed), TXA-19 availability UN (not for patient
  care before sign-off).
- OBX: one ``TX`` OBX per line of the letter (OBX-5 escaped), OBX-3 the document type code (LOINC 68602-2 by
  default), OBX-11 P (preliminary).

Sign-off (``completion_status="AU"``, authenticated): the same message with the signed text, TXA-17 AU, TXA-19 AV
(available for patient care), TXA-22 the authenticating physician with the signature time, OBX-11 F (final), and
the event the site wants (``event``: T02 by default, T04 "status change notification and content" or T08 "edit
notification and content" where the receiver expects those; all share the MDM_T02 structure). Its MSH-10 differs
from the draft's (derived from document id and status), so the receiver never takes it for a resend of the draft.

Rejection (``mdm_cancel``): MDM^T11 (document cancel notification, no content) with TXA-19 CA, so the receiver
withdraws the draft instead of keeping it as in progress.

Pure: no clock (``now`` is passed in), no network.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from rtletter.mappers.case import Case, Coding, Physician
from rtletter.mappers.draft_gate import DraftCheck
from rtletter.mappers.errors import InvalidValue, UnsupportedInput
from rtletter.mappers.fhir.writeback import DEFAULT_DOC_TYPE, draft_ids
from rtletter.mappers.hl7v2.message import MSH18_FOR_CODEC, EncodingCharacters, codec_for, escape
from rtletter.mappers.hl7v2.profile import Profile, default_profile
from rtletter.mappers.hl7v2.values import SEX_TO_V2

VERSION = "2.5.1"
COMPLETION_IN_PROGRESS = "IP"  # HL7 table 0271
COMPLETION_AUTHENTICATED = "AU"  # HL7 table 0271: signed
AVAILABILITY_AVAILABLE = "AV"  # HL7 table 0273
CONTENT_EVENTS = ("T02", "T04", "T06", "T08", "T10")  # the MDM events with content (structure MDM_T02)
AVAILABILITY_UNAVAILABLE = "UN"  # HL7 table 0273
AVAILABILITY_CANCELLED = "CA"  # HL7 table 0273: a rejected draft (MDM^T11)
DOCUMENT_TYPE = "DS"  # HL7 table 0270 (user-defined): discharge summary, the closest to an end-of-treatment letter
CHARS = EncodingCharacters()
LOINC_V2 = "LN"  # HL7 table 0396 name of LOINC


def _e(value: str | None) -> str:
    return escape(value, CHARS) if value else ""


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise InvalidValue("the clock must be timezone-aware", segment="MSH", field="7")
    return value.strftime("%Y%m%d%H%M%S%z")


def _xcn(physician: Physician | None) -> str:
    if physician is None:
        return ""
    return "^".join([_e(physician.id), _e(physician.family), _e(physician.given), "", "", _e(physician.prefix)])


def document_id(case: Case, draft_version: int = 1) -> str:
    """TXA-12: the draft's deterministic id (the same UUID as the FHIR DocumentReference identifier)."""
    return str(draft_ids(case.case_id, draft_version)["DocumentReference"])


def control_id(case: Case, draft_version: int = 1, completion_status: str = COMPLETION_IN_PROGRESS) -> str:
    """MSH-10: 20 characters derived from the document id (and the status, past the draft), so that a resend is
    recognisable as one."""
    key = document_id(case, draft_version)
    if completion_status != COMPLETION_IN_PROGRESS:
        key += f"|{completion_status}"
    return "RTL" + hashlib.sha256(key.encode()).hexdigest()[:17].upper()


def mdm_from_draft(
    case: Case,
    text: str,
    *,
    now: datetime,
    model: str = "",
    adapter_version: str = "",
    language: str | None = None,
    encoding: str = "utf-8",
    document_type: str = DOCUMENT_TYPE,
    doc_code: Coding = DEFAULT_DOC_TYPE,
    receiving_application: str = "",
    receiving_facility: str = "",
    draft_version: int = 1,
    profile: Profile | None = None,
    completion_status: str = COMPLETION_IN_PROGRESS,
    authenticator: Physician | None = None,
    event: str = "T02",
    check: DraftCheck | None = None,
) -> bytes:
    """One MDM^T02 carrying the draft ``text`` for ``case``, in ``encoding`` (utf-8, latin-1, iso8859-15, ascii).

    ``check`` (the draft-time check) goes into an NTE after the first OBX (NTE-3 "fact-check findings: N (M
    contradicted); key facts not stated: K; truncated: yes|no", NTE-4 RE): a remark for the receiver's work queue,
    not part of the letter text.

    ``completion_status`` "AU" with ``authenticator`` (who signed, at ``now``): the signed letter (module docstring).

    Raises:
        UnsupportedInput: an encoding without an MSH-18 value, an event without content.
        InvalidValue: an empty draft, a naive ``now``, or text that ``encoding`` cannot carry (names OBX-5).
    """
    profile = profile or default_profile()
    codec = _codec(encoding)
    if not text.strip():
        raise InvalidValue("the draft is empty", segment="OBX", field="5")
    if event not in CONTENT_EVENTS:
        raise UnsupportedInput(f"MDM events with content are {', '.join(CONTENT_EVENTS)}", segment="MSH", field="9")
    signed = completion_status != COMPLETION_IN_PROGRESS
    if signed and authenticator is None:
        raise InvalidValue("a signed document needs its authenticator", segment="TXA", field="22")
    stamp = _ts(now)
    message = _message(
        "MDM_T02",
        event,
        case,
        profile,
        stamp,
        control=control_id(case, draft_version, completion_status),
        codec=codec,
        language=language,
        receiving=(receiving_application, receiving_facility),
        software=(model, adapter_version),
    )
    txa = _txa(message, case, profile, stamp, document_type, draft_version)
    txa.txa_17 = _e(completion_status)
    txa.txa_19 = AVAILABILITY_AVAILABLE if signed else AVAILABILITY_UNAVAILABLE
    if signed and authenticator is not None:
        # PPN: the XCN components, then PPN.15 the time of the signature.
        txa.txa_22 = "^".join(_xcn(authenticator).split("^") + [""] * 8 + [stamp])
    system = LOINC_V2 if doc_code.system == DEFAULT_DOC_TYPE.system else _e(doc_code.system)
    code = "^".join([_e(doc_code.code), _e(doc_code.display), system])
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        group = message.add_group("MDM_T02_OBXNTE_SUPPGRP")
        obx = group.obx
        obx.obx_1 = str(number)
        obx.obx_2 = "TX"
        obx.obx_3 = code.rstrip("^")
        if line:
            obx.obx_5 = _e(line)
        obx.obx_11 = "F" if signed else "P"
        if number == 1 and check is not None and not signed:
            nte = group.add_segment("NTE")
            nte.nte_1, nte.nte_2, nte.nte_3, nte.nte_4 = "1", "L", _e(check.summary()), "RE"
    return _encode(message.to_er7() + "\r", codec)


def mdm_cancel(
    case: Case,
    *,
    now: datetime,
    encoding: str = "utf-8",
    document_type: str = DOCUMENT_TYPE,
    receiving_application: str = "",
    receiving_facility: str = "",
    draft_version: int = 1,
    profile: Profile | None = None,
) -> bytes:
    """MDM^T11 (document cancel notification, structure MDM_T01, no content) for a draft a physician rejected:
    TXA-12 the draft's document id, TXA-17 IP (it was never signed), TXA-19 CA (cancelled: not for patient care).
    Its MSH-10 is its own (derived from the document id and "CA"), so a resend is recognisable as one."""
    profile = profile or default_profile()
    codec = _codec(encoding)
    stamp = _ts(now)
    message = _message(
        "MDM_T01",
        "T11",
        case,
        profile,
        stamp,
        control=control_id(case, draft_version, AVAILABILITY_CANCELLED),
        codec=codec,
        language=None,
        receiving=(receiving_application, receiving_facility),
    )
    txa = _txa(message, case, profile, stamp, document_type, draft_version)
    txa.txa_17 = COMPLETION_IN_PROGRESS
    txa.txa_19 = AVAILABILITY_CANCELLED
    return _encode(message.to_er7() + "\r", codec)


def _codec(encoding: str) -> str:
    codec = codec_for(encoding)
    if codec not in MSH18_FOR_CODEC:
        raise UnsupportedInput("MDM is written in utf-8, latin-1, iso8859-15 or ascii", segment="MSH", field="18")
    return str(codec)


def _message(
    structure: str,
    event: str,
    case: Case,
    profile: Profile,
    stamp: str,
    *,
    control: str,
    codec: str,
    language: str | None,
    receiving: tuple[str, str],
    software: tuple[str, str] = ("", ""),
) -> Message:
    """MSH, SFT (the software and model), EVN, PID and PV1: what every MDM of a letter starts with."""
    message = Message(structure, version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = message.msh
    msh.msh_3 = _e(profile.sending_application)
    msh.msh_5, msh.msh_6 = _e(receiving[0]), _e(receiving[1])
    msh.msh_7 = stamp
    msh.msh_9 = f"MDM^{event}^{structure}"
    msh.msh_10 = control
    msh.msh_11 = "P"
    msh.msh_12 = VERSION
    msh.msh_18 = MSH18_FOR_CODEC[codec]
    msh.msh_19 = f"{_e(language or case.language)}^^ISO639"
    sft = message.add_segment("SFT")
    sft.sft_1 = "rtletter"
    sft.sft_2 = _e(software[0]) or "unknown"  # the base model
    sft.sft_3 = "rtletter"
    sft.sft_4 = _e(software[1]) or "none"  # the adapter version
    message.evn.evn_1 = event
    message.evn.evn_2 = stamp
    _pid(message, case)
    message.pv1.pv1_2 = "U"  # patient class unknown: the letter is not about one visit
    return message


def _txa(message: Message, case: Case, profile: Profile, stamp: str, document_type: str, draft_version: int) -> Any:
    """TXA-1..15 of the letter's document; the caller sets completion (17) and availability (19)."""
    txa = message.txa
    txa.txa_1 = "1"
    txa.txa_2 = _e(document_type)
    txa.txa_3 = "TX"
    txa.txa_4 = stamp
    physician = _xcn(case.treating_physician)
    if physician:
        txa.txa_5 = physician
    txa.txa_12 = f"{document_id(case, draft_version)}^{_e(profile.sending_application)}"
    txa.txa_15 = _e(case.course.id)
    return txa


def _encode(er7: str, codec: str) -> bytes:
    try:
        return er7.encode(codec)
    except UnicodeEncodeError:
        pass
    for segment in er7.split("\r"):
        fields = segment.split("|")
        for number, value in enumerate(fields[1:], start=1):
            try:
                value.encode(codec)
            except UnicodeEncodeError as exc:
                name = fields[0]
                position = number + 1 if name == "MSH" else number
                raise InvalidValue(
                    f"text cannot be written in {codec}; use encoding utf-8", segment=name, field=str(position)
                ) from exc
    raise AssertionError("unreachable: some field failed to encode")


def _pid(message: Message, case: Case) -> None:
    patient = case.patient
    pid = message.pid
    pid.pid_1 = "1"
    pid.pid_3 = f"{_e(patient.id)}^^^^MR"
    if patient.name:
        pid.pid_5 = "^".join([_e(patient.family), _e(patient.given), "", "", "", "", "L"])
    if patient.birth_date:
        pid.pid_7 = patient.birth_date.strftime("%Y%m%d")
    pid.pid_8 = SEX_TO_V2[patient.sex]
