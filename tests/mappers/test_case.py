from datetime import date, datetime

import pytest
from pydantic import ValidationError

from rtletter.mappers import Case, Patient
from rtletter.mappers.case import (
    Appointment,
    FollowUp,
    PriorRadiotherapy,
    format_gy,
)
from tests.factories import rectum_case


@pytest.mark.parametrize(("value", "text"), [(50.4, "50.4"), (2.67, "2.67"), (8.0, "8"), (40.05, "40.05"), (25, "25")])
def test_format_gy_is_canonical(value: float, text: str) -> None:
    assert format_gy(value) == text


def test_facts_lists_doses_fractions_dates_codes_and_drugs() -> None:
    facts = {(f.kind, f.value) for f in rectum_case().facts()}
    assert facts == {
        ("code", "C20"),
        ("drug", "capecitabine"),
        ("date", "2026-03-02"),
        ("date", "2026-04-08"),
        ("date", "2026-05-20"),
        ("dose", "50.4"),
        ("dose", "1.8"),
        ("fractions", "28"),
    }


def test_facts_are_deduplicated() -> None:
    case = rectum_case()
    case.course.phases = []
    values = [(f.kind, f.value) for f in case.facts()]
    assert len(values) == len(set(values))


def test_case_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Patient(id="P1", nickname="x")  # type: ignore[call-arg]


def test_toxicity_grade_is_ctcae_range() -> None:
    from rtletter.mappers.case import Toxicity

    with pytest.raises(ValidationError):
        Toxicity(term="Radiation dermatitis", grade=6)


@pytest.mark.parametrize(
    ("value", "kind"), [("2026-05-20", date), ("2026-05-20T09:30:00", datetime), (date(2026, 5, 20), date)]
)
def test_appointment_date_stays_a_date_through_json(value: object, kind: type) -> None:
    case = rectum_case(
        follow_up=FollowUp(appointments=[Appointment.model_validate({"when": value, "kind": "Nachsorge"})])
    )
    again = Case.model_validate_json(case.model_dump_json())
    assert type(again.follow_up.appointments[0].when) is kind


def test_prior_radiotherapy_dates_are_facts() -> None:
    prior = PriorRadiotherapy(
        region="Ganzhirn", total_dose_gy=30, fractions=10, start=date(2025, 3, 21), end=date(2025, 4, 2)
    )
    facts = {(f.kind, f.value) for f in rectum_case(prior_radiotherapy=[prior]).facts()}
    assert {("date", "2025-03-21"), ("date", "2025-04-02"), ("dose", "30"), ("fractions", "10")} <= facts
