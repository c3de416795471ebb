"""Site profiles: the default profile, YAML loading, a latin-1 site with Z-segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtletter.mappers.errors import InvalidValue, UnsupportedInput
from rtletter.mappers.hl7v2.case import case_from_v2
from rtletter.mappers.hl7v2.profile import ROLES, Profile, default_profile, load_profile

SITE_YAML = """\
name: site-z
default_encoding: 8859/1
language: de
observations:
  course_status: [STATUS, {code: 1234-5, system: LN}]
z_fields:
  course_id: ZRT-1
  course_intent: ZRT-2
  volume_name: ZRV-2
  volume_total_dose: {segment: ZRV, field: 3, unit: cGy}
  volume_fractions_delivered: ZRV-4
"""

SITE_MESSAGE = (
    "MSH|^~\\&|ARIA|STRAHLENKLINIK|||20260402||ORU^R01|Z1|P|2.4\r"
    "PID|1||99^^^^MR||Größe^Jörg||19500101|M\r"
    "ZRT|K-2026-7|kurativ\r"
    "ZRV|1|PTV Prostata|7800|39\r"
    "ZRV|2|PTV Lymphabfluss|5040|28\r"
    "OBX|1|ST|1234-5^Status^LN||abgeschlossen||||||F\r"
)


@pytest.fixture
def site_profile(tmp_path: Path) -> Profile:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML, encoding="utf-8")
    return load_profile(path)


def test_default_profile_covers_every_role() -> None:
    profile = default_profile()
    assert profile.name == "default"
    assert set(profile.observations) == set(ROLES)
    assert profile.code_for("course_id").code == "RT-COURSE-ID"
    assert profile.code_for("course_id").system == "99RTL"
    assert profile.code_for("ecog").system == "LN"
    assert profile.role_of("89247-1", "LN") == "ecog"
    assert profile.role_of("ECOG", "ANY") == "ecog"  # listed without a system: any system
    assert profile.role_of("89247-1", "99XYZ") is None  # LOINC code only under LN


def test_site_profile_with_z_segments_and_latin1_default(site_profile: Profile) -> None:
    data = SITE_MESSAGE.encode("latin-1")  # no MSH-18: the profile's default 8859/1 applies
    case = case_from_v2(data, site_profile)
    assert case.patient.family == "Größe"
    assert case.course.id == "K-2026-7" and case.case_id == "hl7v2:K-2026-7"
    assert case.course.intent.value == "curative"
    assert case.course.status.value == "completed"  # OBX with the LOINC code from the site list
    prostate, nodes = case.course.volumes
    assert (prostate.name, prostate.total_dose_gy, prostate.fractions_delivered) == ("PTV Prostata", 78.0, 39)
    assert (nodes.name, nodes.total_dose_gy, nodes.fractions_delivered) == ("PTV Lymphabfluss", 50.4, 28)
    with pytest.raises(InvalidValue):
        case_from_v2(data)  # the default profile expects UTF-8


def test_z_segment_errors_name_segment_and_field(site_profile: Profile) -> None:
    data = SITE_MESSAGE.replace("5040", "fünfzig").encode("latin-1")
    with pytest.raises(InvalidValue) as caught:
        case_from_v2(data, site_profile)
    assert caught.value.where == "ZRV[2]-3"
    assert "fünfzig" not in str(caught.value) and "Größe" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nobservations:\n  course_dose: X\n", "unknown roles: course_dose"),
        ("name: x\nz_fields:\n  course_id: PID-3\n", "not a Z-segment"),
        ("name: x\nfavourite_colour: blue\n", "favourite_colour"),
        ("- a\n- b\n", "not a mapping"),
        ("name: [unclosed\n", "could not be read"),
    ],
)
def test_bad_profiles(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValue, match=message):
        load_profile(path)


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="could not be read"):
        load_profile(tmp_path / "absent.yaml")


def test_a_profile_without_a_code_cannot_write_that_role(site_profile: Profile) -> None:
    with pytest.raises(UnsupportedInput):
        site_profile.code_for("volume_name")
