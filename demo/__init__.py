"""rtletter.demo: everything ``make demo`` needs that a site never runs.

The synthetic cohort (``synth``: tumour entities, seeded cases, reference letters, and the writers that render a case
as a FHIR collection Bundle and an HL7 v2 ORU^R01), the cohort folder writer (``rtletter synth``), the sandbox FHIR
server wrapper (sekmet-fhir), the builder of the small pre-trained demo base model, and the demo run itself
(``rtletter demo``: mapping, model and agent stages).

It imports the product packages (``rtletter.agent``, ``rtletter.mappers``, ``rtletter.model``); they never import it
(tests/test_layout.py checks that).
"""

from rtletter.demo.base_model import build_base
from rtletter.demo.cohort import write_cohort
from rtletter.demo.errors import DemoError, SandboxError
from rtletter.demo.run import run_demo
from rtletter.demo.sandbox import FhirSandbox, free_port
from rtletter.demo.synth import SyntheticPatient, generate_cohort, synthesize

__all__ = [
    "DemoError",
    "FhirSandbox",
    "SandboxError",
    "SyntheticPatient",
    "build_base",
    "free_port",
    "generate_cohort",
    "run_demo",
    "synthesize",
    "write_cohort",
]
