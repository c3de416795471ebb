"""The synthetic cohort: tumour entities, seeded cases, reference letters (and, through the writers, FHIR and v2)."""

from rtletter.demo.synth.entities import ENTITIES
from rtletter.demo.synth.generate import SyntheticCase, SyntheticPatient, build_case, generate_cohort, synthesize

__all__ = ["ENTITIES", "SyntheticCase", "SyntheticPatient", "build_case", "generate_cohort", "synthesize"]
