"""The synthetic cohort's tumour entities: codes, histology, stages, surgery, systemic therapy, radiotherapy regimens,
acute toxicities and follow-up, as a German university radiation oncology department sees them.

Sources: ../shared/docs/letter-domain.md (regimens, CTCAE terms by region). Codes: ICD-10-GM 2026 (diagnoses),
ICD-O-3 (morphology), OPS 2026 (surgery), TNM 8th edition / UICC stage groups. Toxicity terms are CTCAE v5.0 terms.
Every text exists in German and English (``T``); every regimen's total dose is fractions × dose per fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtletter.mappers.case import Intent, Sex


@dataclass(frozen=True)
class T:
    """A text in German and English."""

    de: str
    en: str

    def get(self, lang: str) -> str:
        return self.de if lang == "de" else self.en


@dataclass(frozen=True)
class DiagnosisSpec:
    code: str  # ICD-10-GM
    text: T
    lateral: bool = False  # the letter names a side (left/right)
    sexes: tuple[Sex, ...] = ()  # a tumour of one sex (prostate, breast as a primary): the patient's; empty: any


@dataclass(frozen=True)
class HistologySpec:
    code: str  # ICD-O-3 morphology
    text: T


@dataclass(frozen=True)
class StageSpec:
    tnm: str
    stage: str  # UICC


@dataclass(frozen=True)
class SurgerySpec:
    code: str  # OPS
    text: T
    weeks_before: tuple[int, int] = (5, 10)


@dataclass(frozen=True)
class DrugSpec:
    agents: tuple[str, ...]  # INN, lower case
    dose: T  # "40 mg/m² wöchentlich"
    label: T  # how a letter names it: "Cisplatin", "Carboplatin/Paclitaxel"
    cycles: int | None = None
    weeks_before: tuple[int, int] = (8, 20)  # prior therapy: start before the radiotherapy
    weeks_long: int = 12  # prior therapy: duration; 0 = ongoing (no end date)


@dataclass(frozen=True)
class VolumeSpec:
    name: T
    dose_per_fraction: float
    fractions: int
    boost: bool = False
    phase: int = 0  # 0 = first (or only) phase, 1 = sequential boost, 2 = brachytherapy
    volume_type: str = "PTV"

    @property
    def total(self) -> float:
        return round(self.dose_per_fraction * self.fractions, 2)


@dataclass(frozen=True)
class BrachySpec:
    dose_per_fraction: float
    fractions: int
    applicator: T
    isotope: str = "Ir-192"
    dose_rate: str = "HDR"


@dataclass(frozen=True)
class Regimen:
    key: str
    label: T  # "moderat hypofraktionierte Radiatio der Restbrust"
    intent: Intent
    volumes: tuple[VolumeSpec, ...]
    techniques: tuple[str, ...] = ("VMAT", "IMRT")
    modality: str = "photons"
    energies: tuple[str, ...] = ("6 MV",)
    image_guidance: tuple[str, ...] = ("daily CBCT",)
    concurrent: DrugSpec | None = None
    brachy: BrachySpec | None = None
    every_other_day: bool = False  # stereotactic schedules
    reirradiation: bool = False
    surgery: bool | None = None  # True: always operated first, False: never, None: when the entity has surgeries
    diagnosis: int | None = None  # index into Entity.diagnoses when the regimen fits one diagnosis only
    prior: tuple[DrugSpec, ...] | None = None  # prior systemic options; None: the entity's
    followed_by: DrugSpec | None = None  # systemic therapy planned after the radiotherapy
    weight: int = 1

    @property
    def phases(self) -> int:
        return 1 + max(v.phase for v in self.volumes)


@dataclass(frozen=True)
class Entity:
    key: str
    name: T
    sexes: tuple[Sex, ...]
    ages: tuple[int, int]
    diagnoses: tuple[DiagnosisSpec, ...]
    histologies: tuple[HistologySpec, ...]
    stages: tuple[StageSpec, ...]
    regimens: tuple[Regimen, ...]
    toxicities: tuple[str, ...]  # CTCAE v5 terms, most typical first
    follow_up: tuple[T, ...]  # kinds of booked appointments besides the first visit
    recommendations: tuple[T, ...]
    surgeries: tuple[SurgerySpec, ...] = ()
    prior_systemic: tuple[DrugSpec, ...] = ()
    primaries: tuple[DiagnosisSpec, ...] = ()  # metastatic entities: the primary tumour
    grades: tuple[str, ...] = ()
    receptors: tuple[str, ...] = ()
    stop_reasons: tuple[T, ...] = field(default=())


# --- shared pieces --------------------------------------------------------------------------------------------------

STOP_REASONS: tuple[T, ...] = (
    T("auf ausdrücklichen Wunsch des Patienten", "at the patient's own request"),
    T("wegen Verschlechterung des Allgemeinzustands", "because of a decline in general condition"),
    T("wegen eines Infekts mit stationärer Aufnahme", "because of an infection requiring admission"),
    T("wegen klinischen Tumorprogresses", "because of clinical tumour progression"),
)

# Why the first phase of a re-planned course stopped (the CodeX reason-for-revision); the second phase continues the
# same volume with a new plan and another dose per fraction, as in the XRTS-02 example.
PLAN_CHANGE_REASONS: tuple[T, ...] = (
    T("wegen akuter Toxizität", "because of acute toxicity"),
    T("wegen Gewichtsverlust mit veränderter Anatomie", "because weight loss changed the anatomy"),
    T("wegen Tumorregression in der Bildgebung", "because imaging showed tumour regression"),
)

COMORBIDITIES: tuple[DiagnosisSpec, ...] = (
    DiagnosisSpec("I10.00", T("Arterielle Hypertonie", "Arterial hypertension")),
    DiagnosisSpec("E11.90", T("Diabetes mellitus Typ 2", "Type 2 diabetes mellitus")),
    DiagnosisSpec("I48.9", T("Vorhofflimmern", "Atrial fibrillation")),
    DiagnosisSpec("J44.99", T("COPD", "COPD")),
    DiagnosisSpec("E66.09", T("Adipositas", "Obesity")),
    DiagnosisSpec("N18.3", T("Chronische Niereninsuffizienz Stadium 3", "Chronic kidney disease stage 3")),
    DiagnosisSpec("E03.9", T("Hypothyreose", "Hypothyroidism")),
)

REIRRADIATION_DX = DiagnosisSpec("Z92.3", T("Z. n. Strahlentherapie", "Personal history of irradiation"))

_MRT_HEAD = T("MRT Schädel", "MRI brain")
_CT_THORAX = T("CT Thorax", "CT chest")
_DURVALUMAB = DrugSpec(
    ("durvalumab",),
    T("10 mg/kg alle 2 Wochen für bis zu 12 Monate", "10 mg/kg every 2 weeks for up to 12 months"),
    T("Durvalumab", "durvalumab"),
)
_CT_ABD = T("CT Thorax/Abdomen", "CT chest/abdomen")
_MRT_PELVIS = T("MRT Becken", "MRI pelvis")
_PSA = T("PSA-Kontrolle", "PSA check")
_MAMMO = T("Mammographie", "Mammography")
_ENDO = T("Endoskopie", "Endoscopy")
_HNO = T("HNO-Spiegelung", "ENT examination")
_PET = T("PET-CT", "PET-CT")

_SKIN_CARE = T(
    "Fortführung der Hautpflege mit einer rückfettenden Creme, bis die Hautreaktion vollständig abgeklungen ist.",
    "Continue skin care with an emollient cream until the skin reaction has settled completely.",
)
_CONTACT = T(
    "Bei Beschwerden ist jederzeit eine Vorstellung in unserer Ambulanz möglich.",
    "The patient may contact our outpatient clinic at any time with problems.",
)
_BOARD = T(
    "Vorstellung im interdisziplinären Tumorboard nach Abschluss des Restagings.",
    "Presentation at the multidisciplinary tumour board after restaging.",
)


def _v(
    de: str, en: str, dose: float, fractions: int, boost: bool = False, phase: int = 0, vt: str = "PTV"
) -> VolumeSpec:
    return VolumeSpec(T(de, en), dose, fractions, boost=boost, phase=phase, volume_type=vt)


# --- entities -------------------------------------------------------------------------------------------------------

BREAST = Entity(
    key="breast",
    name=T("Mammakarzinom", "Breast cancer"),
    sexes=(Sex.female,),
    ages=(38, 82),
    diagnoses=(
        DiagnosisSpec("C50.4", T("Mammakarzinom oberer äußerer Quadrant", "Breast cancer, upper outer quadrant"), True),
        DiagnosisSpec("C50.2", T("Mammakarzinom oberer innerer Quadrant", "Breast cancer, upper inner quadrant"), True),
        DiagnosisSpec("C50.8", T("Mammakarzinom, mehrere Teilbereiche", "Breast cancer, overlapping sites"), True),
    ),
    histologies=(
        HistologySpec("8500/3", T("invasives Karzinom NST", "invasive carcinoma of no special type")),
        HistologySpec("8520/3", T("invasiv-lobuläres Karzinom", "invasive lobular carcinoma")),
    ),
    stages=(
        StageSpec("pT1c pN0 (0/2 sn) cM0", "IA"),
        StageSpec("pT2 pN0 (0/3 sn) cM0", "IIA"),
        StageSpec("pT2 pN1a (2/14) cM0", "IIB"),
        StageSpec("pT1b pN0 (0/1 sn) cM0", "IA"),
    ),  # fmt: skip
    grades=("G1", "G2", "G3"),
    receptors=(
        "ER 90 %, PR 80 %, HER2 negativ",
        "ER 100 %, PR 10 %, HER2 negativ",
        "ER 0 %, PR 0 %, HER2 negativ",
        "ER 80 %, PR 60 %, HER2 positiv (Score 3+)",
    ),  # fmt: skip
    surgeries=(
        SurgerySpec(
            "5-870.a2",
            T(
                "Brusterhaltende Tumorexzision mit Sentinel-Lymphonodektomie",
                "Breast-conserving surgery with sentinel lymph node biopsy",
            ),
        ),
        SurgerySpec("5-870.a1", T("Brusterhaltende Segmentresektion", "Breast-conserving segmental resection")),
    ),
    prior_systemic=(
        DrugSpec(
            ("epirubicin", "cyclophosphamide", "paclitaxel"),
            T("4 × EC, 12 × Paclitaxel wöchentlich", "4 × EC, 12 × weekly paclitaxel"),
            T(
                "Epirubicin/Cyclophosphamid, gefolgt von Paclitaxel",
                "epirubicin/cyclophosphamide followed by paclitaxel",
            ),
            cycles=16,
            weeks_before=(30, 40),
            weeks_long=20,
        ),
        DrugSpec(
            ("letrozole",),
            T("2,5 mg täglich", "2.5 mg daily"),
            T("Letrozol", "letrozole"),
            weeks_before=(2, 5),
            weeks_long=0,
        ),
        DrugSpec(
            ("tamoxifen",),
            T("20 mg täglich", "20 mg daily"),
            T("Tamoxifen", "tamoxifen"),
            weeks_before=(2, 5),
            weeks_long=0,
        ),
    ),
    regimens=(
        Regimen(
            "breast-hypo",
            T(
                "moderat hypofraktionierte Radiatio der Restbrust",
                "moderately hypofractionated whole-breast radiotherapy",
            ),
            Intent.adjuvant,
            (_v("PTV Mamma", "PTV breast", 2.67, 15),),
            techniques=("3D-CRT", "IMRT"),
            weight=3,
        ),
        Regimen(
            "breast-hypo-boost",
            T(
                "moderat hypofraktionierte Radiatio der Restbrust mit sequenziellem Boost auf das Tumorbett",
                "moderately hypofractionated whole-breast radiotherapy with a sequential tumour-bed boost",
            ),
            Intent.adjuvant,
            (
                _v("PTV Mamma", "PTV breast", 2.67, 15),
                _v("PTV Boost Tumorbett", "PTV boost tumour bed", 2.0, 5, boost=True, phase=1),
            ),
            techniques=("3D-CRT", "IMRT"),
            weight=2,
        ),
        Regimen(
            "breast-sib",
            T(
                "hypofraktionierte Radiatio der Restbrust mit simultan integriertem Boost (SIB)",
                "hypofractionated whole-breast radiotherapy with a simultaneous integrated boost (SIB)",
            ),
            Intent.adjuvant,
            (
                _v("PTV Mamma", "PTV breast", 2.5, 16),
                _v("PTV SIB Tumorbett", "PTV SIB tumour bed", 3.0, 16, boost=True),
            ),
            techniques=("IMRT", "VMAT"),
        ),
        Regimen(
            "breast-fast-forward",
            T(
                "ultrahypofraktionierte Radiatio der Restbrust (FAST-Forward)",
                "ultrahypofractionated whole-breast radiotherapy (FAST-Forward)",
            ),
            Intent.adjuvant,
            (_v("PTV Mamma", "PTV breast", 5.2, 5),),
            techniques=("3D-CRT", "IMRT"),
        ),
        Regimen(
            "breast-conv-boost",
            T(
                "normofraktionierte Radiatio der Restbrust und der supra-/infraklavikulären "
                "Lymphabflusswege mit sequenziellem Boost",
                "conventionally fractionated radiotherapy of the breast "
                "and supra-/infraclavicular nodes with a sequential boost",
            ),
            Intent.adjuvant,
            (
                _v("PTV Mamma + LAW supra-/infraklavikulär", "PTV breast + supra-/infraclavicular nodes", 2.0, 25),
                _v("PTV Boost Tumorbett", "PTV boost tumour bed", 2.0, 8, boost=True, phase=1),
            ),
            techniques=("VMAT", "IMRT"),
        ),
    ),
    toxicities=("Dermatitis radiation", "Fatigue", "Breast pain", "Pruritus"),
    follow_up=(_MAMMO,),
    recommendations=(
        _SKIN_CARE,
        T(
            "Fortführung der endokrinen Therapie durch die betreuenden Gynäkologen.",
            "Continuation of endocrine therapy by the treating gynaecologists.",
        ),
        T("Jährliche Mammographie und Mammasonographie beidseits.", "Annual bilateral mammography and ultrasound."),
    ),
)

PROSTATE = Entity(
    key="prostate",
    name=T("Prostatakarzinom", "Prostate cancer"),
    sexes=(Sex.male,),
    ages=(55, 84),
    diagnoses=(DiagnosisSpec("C61", T("Prostatakarzinom", "Prostate cancer")),),
    histologies=(HistologySpec("8140/3", T("azinäres Adenokarzinom", "acinar adenocarcinoma")),),
    stages=(
        StageSpec("cT2b cN0 cM0", "IIB"),
        StageSpec("cT3a cN0 cM0", "IIIB"),
        StageSpec("cT2c cN1 cM0", "IVA"),
        StageSpec("pT3a pN0 (0/14) R1", "IIIB"),
    ),  # fmt: skip
    grades=("Gleason 3+4=7a (ISUP 2)", "Gleason 4+3=7b (ISUP 3)", "Gleason 4+4=8 (ISUP 4)"),
    surgeries=(
        SurgerySpec(
            "5-604.02",
            T(
                "Radikale Prostatovesikulektomie mit pelviner Lymphadenektomie",
                "Radical prostatectomy with pelvic lymphadenectomy",
            ),
            (30, 120),
        ),
    ),
    prior_systemic=(
        DrugSpec(
            ("leuprorelin",),
            T("3-Monats-Depot", "3-monthly depot"),
            T("Leuprorelin", "leuprorelin"),
            weeks_before=(8, 12),
            weeks_long=0,
        ),
        DrugSpec(
            ("degarelix",),
            T("80 mg monatlich", "80 mg monthly"),
            T("Degarelix", "degarelix"),
            weeks_before=(8, 12),
            weeks_long=0,
        ),
    ),
    regimens=(
        Regimen(
            "prostate-hypo",
            T(
                "moderat hypofraktionierte Radiatio der Prostata und Samenblasenbasis",
                "moderately hypofractionated radiotherapy of the prostate and seminal vesicle base",
            ),
            Intent.curative,
            (_v("PTV Prostata + SBB", "PTV prostate + SV base", 3.0, 20),),
            surgery=False,
            weight=3,
        ),
        Regimen(
            "prostate-conv",
            T("normofraktionierte Radiatio der Prostata", "conventionally fractionated radiotherapy of the prostate"),
            Intent.curative,
            (_v("PTV Prostata", "PTV prostate", 2.0, 39),),
            surgery=False,
            weight=2,
        ),
        Regimen(
            "prostate-pelvic",
            T(
                "Radiatio der Prostata mit simultan integriertem Boost und der pelvinen Lymphabflusswege",
                "radiotherapy of the prostate with a simultaneous integrated boost and the pelvic lymph nodes",
            ),
            Intent.curative,
            (
                _v("PTV pelvine LAW", "PTV pelvic nodes", 1.8, 28),
                _v("PTV Prostata (SIB)", "PTV prostate (SIB)", 2.5, 28, boost=True),
            ),
            surgery=False,
        ),
        Regimen(
            "prostate-salvage",
            T("Salvage-Radiatio der Prostataloge", "salvage radiotherapy of the prostate bed"),
            Intent.curative,
            (_v("PTV Prostataloge", "PTV prostate bed", 2.0, 33),),
            surgery=True,
        ),
    ),
    toxicities=("Urinary frequency", "Cystitis noninfective", "Proctitis", "Diarrhea", "Fatigue"),
    follow_up=(_PSA,),
    recommendations=(
        T(
            "PSA-Kontrollen alle 3 Monate durch den betreuenden Urologen.",
            "PSA checks every 3 months by the treating urologist.",
        ),
        T(
            "Fortführung der antihormonellen Therapie in der festgelegten Dauer.",
            "Continue androgen deprivation for the planned duration.",
        ),
        T("Ausreichende Trinkmenge und ballaststoffreiche Kost.", "Adequate fluid intake and a high-fibre diet."),
    ),
)

RECTUM = Entity(
    key="rectum",
    name=T("Rektumkarzinom", "Rectal cancer"),
    sexes=(Sex.female, Sex.male),
    ages=(45, 83),
    diagnoses=(DiagnosisSpec("C20", T("Rektumkarzinom", "Rectal cancer")),),
    histologies=(HistologySpec("8140/3", T("Adenokarzinom", "adenocarcinoma")),),
    stages=(
        StageSpec("cT3b cN1 cM0", "IIIB"),
        StageSpec("cT3c cN2a cM0", "IIIC"),
        StageSpec("cT4a cN1 cM0", "IIIC"),
        StageSpec("cT3a cN0 cM0", "IIA"),
    ),  # fmt: skip
    grades=("G2", "G3"),
    regimens=(
        Regimen(
            "rectum-rct",
            T(
                "neoadjuvante Radiochemotherapie des Rektums und der pelvinen Lymphabflusswege",
                "neoadjuvant chemoradiotherapy of the rectum and pelvic lymph nodes",
            ),
            Intent.neoadjuvant,
            (_v("PTV Rektum + pelvine LAW", "PTV rectum + pelvic nodes", 1.8, 28),),
            concurrent=DrugSpec(
                ("capecitabine",),
                T("825 mg/m² 2× täglich an Bestrahlungstagen", "825 mg/m² twice daily on radiotherapy days"),
                T("Capecitabin", "capecitabine"),
            ),
            weight=3,
        ),
        Regimen(
            "rectum-short",
            T(
                "präoperative Kurzzeit-Radiatio des Rektums und der pelvinen Lymphabflusswege",
                "preoperative short-course radiotherapy of the rectum and pelvic lymph nodes",
            ),
            Intent.neoadjuvant,
            (_v("PTV Rektum + pelvine LAW", "PTV rectum + pelvic nodes", 5.0, 5),),
            weight=2,
        ),
    ),
    toxicities=("Diarrhea", "Proctitis", "Dermatitis radiation", "Cystitis noninfective", "Fatigue", "Nausea"),
    follow_up=(_MRT_PELVIS,),
    recommendations=(
        T(
            "Restaging mit MRT Becken 6-8 Wochen nach Abschluss der Therapie.",
            "Restaging with MRI of the pelvis 6-8 weeks after completion.",
        ),
        T(
            "Vorstellung in der Viszeralchirurgie zur Planung der totalen mesorektalen Exzision.",
            "Referral to visceral surgery to plan total mesorectal excision.",
        ),
        _BOARD,
    ),
)

HEAD_NECK = Entity(
    key="head_neck",
    name=T("Kopf-Hals-Tumor", "Head and neck cancer"),
    sexes=(Sex.male, Sex.male, Sex.female),
    ages=(42, 80),
    diagnoses=(
        DiagnosisSpec("C10.9", T("Oropharynxkarzinom", "Oropharyngeal cancer")),
        DiagnosisSpec("C09.9", T("Tonsillenkarzinom", "Tonsillar cancer"), True),
        DiagnosisSpec("C32.0", T("Glottisches Larynxkarzinom", "Glottic laryngeal cancer")),
        DiagnosisSpec("C02.1", T("Zungenrandkarzinom", "Cancer of the lateral border of the tongue"), True),
    ),
    histologies=(
        HistologySpec("8070/3", T("Plattenepithelkarzinom", "squamous cell carcinoma")),
        HistologySpec("8071/3", T("verhornendes Plattenepithelkarzinom", "keratinising squamous cell carcinoma")),
    ),
    stages=(
        StageSpec("cT2 cN2 cM0, p16 negativ", "IVA"),
        StageSpec("cT3 cN1 cM0, p16 positiv", "II"),
        StageSpec("pT2 pN1 (1/32) cM0 R0", "III"),
        StageSpec("cT4a cN2c cM0", "IVA"),
    ),  # fmt: skip
    grades=("G2", "G3"),
    surgeries=(
        SurgerySpec(
            "5-403.02", T("Tumorresektion mit Neck Dissection", "Tumour resection with neck dissection"), (5, 8)
        ),
    ),
    regimens=(
        Regimen(
            "hn-definitive",
            T(
                "definitive Radiochemotherapie der Primärtumorregion und der zervikalen "
                "Lymphabflusswege in SIB-Technik",
                "definitive chemoradiotherapy of the primary and cervical nodes with a simultaneous integrated boost",
            ),
            Intent.definitive,
            (
                _v(
                    "PTV Hochrisiko (Primärtumor + befallene LK)",
                    "PTV high risk (primary + involved nodes)",
                    2.0,
                    35,
                    boost=True,
                ),
                _v("PTV intermediäres Risiko", "PTV intermediate risk", 1.8, 35),
                _v("PTV elektive LAW", "PTV elective nodes", 1.6, 35),
            ),
            concurrent=DrugSpec(
                ("cisplatin",),
                T("100 mg/m² an Tag 1, 22 und 43", "100 mg/m² on days 1, 22 and 43"),
                T("Cisplatin", "cisplatin"),
            ),
            surgery=False,
            weight=2,
        ),
        Regimen(
            "hn-definitive-weekly",
            T(
                "definitive Radiochemotherapie der Kopf-Hals-Region",
                "definitive chemoradiotherapy of the head and neck",
            ),
            Intent.definitive,
            (
                _v("PTV Primärtumor + LK", "PTV primary + nodes", 2.0, 35, boost=True),
                _v("PTV elektive LAW", "PTV elective nodes", 1.6, 35),
            ),
            concurrent=DrugSpec(
                ("cisplatin",), T("40 mg/m² wöchentlich", "40 mg/m² weekly"), T("Cisplatin", "cisplatin")
            ),
            surgery=False,
        ),
        Regimen(
            "hn-postop",
            T(
                "adjuvante Radiochemotherapie des Tumorbetts und der zervikalen Lymphabflusswege",
                "adjuvant chemoradiotherapy of the tumour bed and cervical nodes",
            ),
            Intent.adjuvant,
            (
                _v("PTV Tumorbett", "PTV tumour bed", 2.0, 33, boost=True),
                _v("PTV elektive LAW", "PTV elective nodes", 1.7, 33),
            ),
            concurrent=DrugSpec(
                ("cisplatin",),
                T("100 mg/m² an Tag 1 und 22", "100 mg/m² on days 1 and 22"),
                T("Cisplatin", "cisplatin"),
            ),
            surgery=True,
        ),
    ),
    toxicities=("Mucositis oral", "Dysphagia", "Dry mouth", "Dysgeusia", "Weight loss", "Dermatitis radiation"),
    follow_up=(_HNO, T("MRT Hals", "MRI neck")),
    recommendations=(
        T(
            "Fortführung der Mundpflege und der logopädischen Schluckübungen.",
            "Continue mouth care and swallowing exercises with speech therapy.",
        ),
        T("Regelmäßige Gewichtskontrollen, ggf. Ernährungsberatung.", "Regular weight checks, dietary advice."),
        T("Zahnärztliche Kontrolle und Fluoridierung.", "Dental review and fluoride prophylaxis."),
        T("TSH-Kontrolle jährlich.", "Annual TSH check."),
    ),
)

GLIOBLASTOMA = Entity(
    key="glioblastoma",
    name=T("Glioblastom", "Glioblastoma"),
    sexes=(Sex.female, Sex.male),
    ages=(40, 82),
    diagnoses=(
        DiagnosisSpec("C71.1", T("Glioblastom frontal", "Frontal glioblastoma"), True),
        DiagnosisSpec("C71.2", T("Glioblastom temporal", "Temporal glioblastoma"), True),
    ),
    histologies=(
        HistologySpec(
            "9440/3", T("Glioblastom, IDH-Wildtyp, ZNS WHO Grad 4", "glioblastoma, IDH-wildtype, CNS WHO grade 4")
        ),
    ),
    stages=(),
    receptors=("MGMT-Promotor methyliert", "MGMT-Promotor unmethyliert"),
    surgeries=(
        SurgerySpec("5-015.0", T("Mikrochirurgische Tumorresektion", "Microsurgical tumour resection"), (3, 5)),
        SurgerySpec("1-510.0", T("Stereotaktische Biopsie", "Stereotactic biopsy"), (2, 4)),
    ),
    regimens=(
        Regimen(
            "gbm-stupp",
            T(
                "normofraktionierte Radiochemotherapie der erweiterten Resektionshöhle",
                "conventionally fractionated chemoradiotherapy of the extended resection cavity",
            ),
            Intent.curative,
            (_v("PTV Tumor", "PTV tumour", 2.0, 30),),
            concurrent=DrugSpec(
                ("temozolomide",), T("75 mg/m² täglich", "75 mg/m² daily"), T("Temozolomid", "temozolomide")
            ),
            weight=3,
        ),
        Regimen(
            "gbm-elderly",
            T("hypofraktionierte Radiochemotherapie", "hypofractionated chemoradiotherapy"),
            Intent.curative,
            (_v("PTV Tumor", "PTV tumour", 2.67, 15),),
            concurrent=DrugSpec(
                ("temozolomide",), T("75 mg/m² täglich", "75 mg/m² daily"), T("Temozolomid", "temozolomide")
            ),
        ),
    ),
    toxicities=("Fatigue", "Alopecia", "Headache", "Nausea", "Dermatitis radiation"),
    follow_up=(_MRT_HEAD,),
    recommendations=(
        T(
            "Beginn der adjuvanten Temozolomid-Therapie 4 Wochen nach Abschluss der Radiatio (150-200 mg/m² Tag 1-5, "
            "alle 28 Tage) in der Neuroonkologie.",
            "Start adjuvant temozolomide 4 weeks after radiotherapy "
            "(150-200 mg/m² days 1-5, every 28 days) in the neuro-oncology clinic.",
        ),
        T("Dexamethason nach Klinik ausschleichen.", "Taper steroids according to symptoms."),
        T("Blutbildkontrollen wöchentlich.", "Weekly blood counts."),
    ),
)

NSCLC = Entity(
    key="nsclc",
    name=T("Nicht-kleinzelliges Lungenkarzinom", "Non-small-cell lung cancer"),
    sexes=(Sex.female, Sex.male),
    ages=(50, 86),
    diagnoses=(
        DiagnosisSpec("C34.1", T("NSCLC Oberlappen", "NSCLC upper lobe"), True),
        DiagnosisSpec("C34.3", T("NSCLC Unterlappen", "NSCLC lower lobe"), True),
    ),
    histologies=(
        HistologySpec("8140/3", T("Adenokarzinom", "adenocarcinoma")),
        HistologySpec("8070/3", T("Plattenepithelkarzinom", "squamous cell carcinoma")),
    ),
    stages=(
        StageSpec("cT1b cN0 cM0", "IA2"),
        StageSpec("cT1c cN0 cM0", "IA3"),
        StageSpec("cT2a cN0 cM0", "IB"),
        StageSpec("cT3 cN2 cM0", "IIIB"),
        StageSpec("cT2b cN2 cM0", "IIIA"),
    ),  # fmt: skip
    receptors=("PD-L1 TPS 60 %", "PD-L1 TPS 5 %", "PD-L1 TPS 80 %"),
    regimens=(
        Regimen(
            "nsclc-sbrt",
            T(
                "stereotaktische Radiatio (SBRT) des peripheren Lungenrundherdes",
                "stereotactic body radiotherapy (SBRT) of the peripheral lung lesion",
            ),
            Intent.curative,
            (_v("PTV Lunge", "PTV lung", 15.0, 3),),
            techniques=("SBRT",),
            image_guidance=("daily CBCT, 4D-CT", "daily CBCT"),
            every_other_day=True,
            weight=2,
        ),
        Regimen(
            "nsclc-sbrt-central",
            T(
                "stereotaktische Radiatio (SBRT) des zentralen Lungenherdes",
                "stereotactic body radiotherapy (SBRT) of the central lung lesion",
            ),
            Intent.curative,
            (_v("PTV Lunge", "PTV lung", 7.5, 8),),
            techniques=("SBRT",),
            every_other_day=True,
        ),
        Regimen(
            "nsclc-rct",
            T(
                "definitive Radiochemotherapie des Primärtumors und der befallenen mediastinalen Lymphknoten",
                "definitive chemoradiotherapy of the primary and involved mediastinal nodes",
            ),
            Intent.definitive,
            (_v("PTV Tumor + LK", "PTV tumour + nodes", 2.0, 33),),
            concurrent=DrugSpec(
                ("carboplatin", "paclitaxel"),
                T(
                    "Carboplatin AUC 2 und Paclitaxel 45 mg/m² wöchentlich",
                    "carboplatin AUC 2 and paclitaxel 45 mg/m² weekly",
                ),
                T("Carboplatin/Paclitaxel", "carboplatin/paclitaxel"),
            ),
            followed_by=_DURVALUMAB,
            weight=2,
        ),
        Regimen(
            "nsclc-rct-cis",
            T(
                "definitive Radiochemotherapie des Primärtumors und der befallenen mediastinalen Lymphknoten",
                "definitive chemoradiotherapy of the primary and involved mediastinal nodes",
            ),
            Intent.definitive,
            (_v("PTV Tumor + LK", "PTV tumour + nodes", 2.0, 30),),
            concurrent=DrugSpec(
                ("cisplatin", "vinorelbine"),
                T(
                    "Cisplatin 80 mg/m² und Vinorelbin 15 mg/m² Tag 1 und 22",
                    "cisplatin 80 mg/m² and vinorelbine 15 mg/m² days 1 and 22",
                ),
                T("Cisplatin/Vinorelbin", "cisplatin/vinorelbine"),
            ),
            followed_by=_DURVALUMAB,
        ),
    ),
    toxicities=("Esophagitis", "Cough", "Fatigue", "Pneumonitis", "Dermatitis radiation"),
    follow_up=(_CT_THORAX,),
    recommendations=(
        T("CT Thorax 3 Monate nach Abschluss der Therapie.", "CT chest 3 months after completion."),
        T(
            "Bei Husten, Fieber oder Dyspnoe umgehende Vorstellung (DD Pneumonitis).",
            "Prompt review with cough, fever or dyspnoea (possible pneumonitis).",
        ),
        _BOARD,
    ),
)

_ABVD = DrugSpec(
    ("doxorubicin", "bleomycin", "vinblastine", "dacarbazine"),
    T("2 Zyklen", "2 cycles"),
    T("ABVD", "ABVD"),
    cycles=2,
    weeks_before=(10, 14),
    weeks_long=8,
)
_RCHOP = DrugSpec(
    ("rituximab", "cyclophosphamide", "doxorubicin", "vincristine", "prednisone"),
    T("6 Zyklen", "6 cycles"),
    T("R-CHOP", "R-CHOP"),
    cycles=6,
    weeks_before=(20, 26),
    weeks_long=18,
)

_PRIMARIES_METS = (
    DiagnosisSpec("C34.1", T("NSCLC Oberlappen", "NSCLC upper lobe"), True),
    DiagnosisSpec("C50.9", T("Mammakarzinom", "Breast cancer"), True, (Sex.female,)),
    DiagnosisSpec("C43.5", T("Malignes Melanom des Rumpfes", "Malignant melanoma of the trunk")),
    DiagnosisSpec("C64", T("Nierenzellkarzinom", "Renal cell carcinoma"), True),
)

BRAIN_METS = Entity(
    key="brain_mets",
    name=T("Hirnmetastasen", "Brain metastases"),
    sexes=(Sex.female, Sex.male),
    ages=(40, 85),
    diagnoses=(DiagnosisSpec("C79.3", T("Hirnmetastasen", "Brain metastases")),),
    primaries=_PRIMARIES_METS,
    histologies=(
        HistologySpec("8140/3", T("Adenokarzinom", "adenocarcinoma")),
        HistologySpec("8500/3", T("invasives Karzinom NST", "invasive carcinoma of no special type")),
        HistologySpec("8720/3", T("malignes Melanom", "malignant melanoma")),
        HistologySpec("8310/3", T("klarzelliges Nierenzellkarzinom", "clear cell renal cell carcinoma")),
    ),
    stages=(StageSpec("cT2 cN1 M1c", "IVB"), StageSpec("M1 (BRA)", "IV")),
    regimens=(
        Regimen(
            "brain-srs",
            T("stereotaktische Radiochirurgie der Hirnmetastase", "stereotactic radiosurgery of the brain metastasis"),
            Intent.palliative,
            (_v("PTV Metastase frontal", "PTV frontal metastasis", 20.0, 1),),
            techniques=("SRS",),
            image_guidance=("CBCT, Maskenfixierung", "CBCT, mask fixation"),
            weight=2,
        ),
        Regimen(
            "brain-fsrt",
            T(
                "fraktionierte stereotaktische Radiatio der Resektionshöhle",
                "fractionated stereotactic radiotherapy of the resection cavity",
            ),
            Intent.palliative,
            (_v("PTV Resektionshöhle", "PTV resection cavity", 6.0, 5),),
            techniques=("SBRT",),
            every_other_day=True,
        ),
        Regimen(
            "brain-wbrt",
            T("Ganzhirnradiatio", "whole-brain radiotherapy"),
            Intent.palliative,
            (_v("PTV Ganzhirn", "PTV whole brain", 3.0, 10),),
            techniques=("3D-CRT", "VMAT"),
            image_guidance=("weekly kV imaging", "daily CBCT"),
            weight=2,
        ),
        Regimen(
            "brain-wbrt-short",
            T("Ganzhirnradiatio", "whole-brain radiotherapy"),
            Intent.palliative,
            (_v("PTV Ganzhirn", "PTV whole brain", 4.0, 5),),
            techniques=("3D-CRT",),
            image_guidance=("weekly kV imaging",),
        ),
        Regimen(
            "brain-srs-reirr",
            T(
                "stereotaktische Radiochirurgie einer neuen Hirnmetastase nach Ganzhirnradiatio (Re-Bestrahlung)",
                "stereotactic radiosurgery of a new brain metastasis after whole-brain radiotherapy (re-irradiation)",
            ),
            Intent.palliative,
            (_v("PTV Metastase Kleinhirn", "PTV cerebellar metastasis", 18.0, 1),),
            techniques=("SRS",),
            reirradiation=True,
        ),
    ),
    toxicities=("Fatigue", "Headache", "Alopecia", "Nausea"),
    follow_up=(_MRT_HEAD,),
    recommendations=(
        T(
            "MRT Schädel 6-8 Wochen nach Abschluss, danach alle 3 Monate.",
            "MRI brain 6-8 weeks after completion, then every 3 months.",
        ),
        T("Dexamethason nach Klinik ausschleichen.", "Taper steroids according to symptoms."),
        T(
            "Fortführung der Systemtherapie durch die behandelnden Onkologen.",
            "Continue systemic therapy with the treating oncologists.",
        ),
    ),
)

BONE_METS = Entity(
    key="bone_mets",
    name=T("Knochenmetastasen", "Bone metastases"),
    sexes=(Sex.female, Sex.male),
    ages=(45, 88),
    diagnoses=(DiagnosisSpec("C79.5", T("Ossäre Metastasen", "Bone metastases")),),
    primaries=(
        DiagnosisSpec("C61", T("Prostatakarzinom", "Prostate cancer"), sexes=(Sex.male,)),
        DiagnosisSpec("C50.9", T("Mammakarzinom", "Breast cancer"), True, (Sex.female,)),
        DiagnosisSpec("C34.1", T("NSCLC Oberlappen", "NSCLC upper lobe"), True),
    ),
    histologies=(
        HistologySpec("8140/3", T("azinäres Adenokarzinom", "acinar adenocarcinoma")),
        HistologySpec("8500/3", T("invasives Karzinom NST", "invasive carcinoma of no special type")),
        HistologySpec("8140/3", T("Adenokarzinom", "adenocarcinoma")),
    ),
    stages=(StageSpec("M1b (OSS)", "IV"),),
    regimens=(
        Regimen(
            "bone-single",
            T(
                "palliative analgetische Einzeitbestrahlung der Lendenwirbelsäule",
                "palliative single-fraction radiotherapy of the lumbar spine",
            ),
            Intent.palliative,
            (_v("PTV LWK 2-4", "PTV lumbar vertebrae 2-4", 8.0, 1),),
            techniques=("3D-CRT",),
            image_guidance=("kV imaging", "CBCT"),
            weight=2,
        ),
        Regimen(
            "bone-5",
            T("palliative Radiatio der Brustwirbelsäule", "palliative radiotherapy of the thoracic spine"),
            Intent.palliative,
            (_v("PTV BWK 7-10", "PTV thoracic vertebrae 7-10", 4.0, 5),),
            techniques=("3D-CRT", "VMAT"),
            image_guidance=("kV imaging", "CBCT"),
        ),
        Regimen(
            "bone-10",
            T("palliative stabilisierende Radiatio des Beckens", "palliative radiotherapy of the pelvis for stability"),
            Intent.palliative,
            (_v("PTV Os ilium rechts", "PTV right ilium", 3.0, 10),),
            techniques=("3D-CRT", "VMAT"),
            image_guidance=("kV imaging", "CBCT"),
        ),
        Regimen(
            "bone-reirr",
            T("palliative Re-Bestrahlung der Lendenwirbelsäule", "palliative re-irradiation of the lumbar spine"),
            Intent.palliative,
            (_v("PTV LWK 3", "PTV lumbar vertebra 3", 4.0, 5),),
            techniques=("VMAT",),
            reirradiation=True,
        ),
    ),
    toxicities=("Pain", "Fatigue", "Nausea", "Diarrhea"),
    follow_up=(),
    recommendations=(
        T(
            "Fortführung der Analgesie nach WHO-Stufenschema, Reduktion nach Klinik.",
            "Continue analgesia along the WHO ladder and reduce according to symptoms.",
        ),
        T(
            "Osteoprotektive Therapie durch die behandelnden Onkologen erwägen.",
            "Consider bone-protective therapy with the treating oncologists.",
        ),
        _CONTACT,
    ),
)

OESOPHAGUS = Entity(
    key="oesophagus",
    name=T("Ösophaguskarzinom", "Oesophageal cancer"),
    sexes=(Sex.male, Sex.male, Sex.female),
    ages=(48, 80),
    diagnoses=(
        DiagnosisSpec(
            "C15.5", T("Ösophaguskarzinom im unteren Drittel", "Cancer of the lower third of the oesophagus")
        ),
        DiagnosisSpec(
            "C15.4", T("Ösophaguskarzinom im mittleren Drittel", "Cancer of the middle third of the oesophagus")
        ),
    ),
    histologies=(
        HistologySpec("8070/3", T("Plattenepithelkarzinom", "squamous cell carcinoma")),
        HistologySpec("8140/3", T("Adenokarzinom", "adenocarcinoma")),
    ),
    stages=(StageSpec("cT3 cN1 cM0", "III"), StageSpec("cT2 cN1 cM0", "IIB"), StageSpec("cT3 cN0 cM0", "II")),
    grades=("G2", "G3"),
    regimens=(
        Regimen(
            "oeso-cross",
            T("neoadjuvante Radiochemotherapie nach CROSS", "neoadjuvant chemoradiotherapy (CROSS)"),
            Intent.neoadjuvant,
            (_v("PTV Ösophagus + LK", "PTV oesophagus + nodes", 1.8, 23),),
            concurrent=DrugSpec(
                ("carboplatin", "paclitaxel"),
                T(
                    "Carboplatin AUC 2 und Paclitaxel 50 mg/m² wöchentlich",
                    "carboplatin AUC 2 and paclitaxel 50 mg/m² weekly",
                ),
                T("Carboplatin/Paclitaxel", "carboplatin/paclitaxel"),
            ),
            weight=2,
        ),
        Regimen(
            "oeso-definitive",
            T("definitive Radiochemotherapie des Ösophagus", "definitive chemoradiotherapy of the oesophagus"),
            Intent.definitive,
            (_v("PTV Ösophagus + LK", "PTV oesophagus + nodes", 1.8, 28),),
            concurrent=DrugSpec(
                ("carboplatin", "paclitaxel"),
                T(
                    "Carboplatin AUC 2 und Paclitaxel 50 mg/m² wöchentlich",
                    "carboplatin AUC 2 and paclitaxel 50 mg/m² weekly",
                ),
                T("Carboplatin/Paclitaxel", "carboplatin/paclitaxel"),
            ),
        ),
    ),
    toxicities=("Esophagitis", "Dysphagia", "Nausea", "Fatigue", "Weight loss", "White blood cell decreased"),
    follow_up=(_CT_ABD, _ENDO),
    recommendations=(
        T(
            "Restaging mit CT und Endoskopie 4-6 Wochen nach Abschluss.",
            "Restaging with CT and endoscopy 4-6 weeks after completion.",
        ),
        T("Vorstellung in der Viszeralchirurgie zur Ösophagektomie.", "Referral to surgery for oesophagectomy."),
        T("Hochkalorische Trinknahrung fortführen.", "Continue high-calorie oral nutritional supplements."),
    ),
)

CERVIX = Entity(
    key="cervix",
    name=T("Zervixkarzinom", "Cervical cancer"),
    sexes=(Sex.female,),
    ages=(30, 78),
    diagnoses=(
        DiagnosisSpec("C53.9", T("Zervixkarzinom", "Cervical cancer")),
        DiagnosisSpec("C53.0", T("Zervixkarzinom, Endozervix", "Cervical cancer, endocervix")),
    ),
    histologies=(HistologySpec("8070/3", T("Plattenepithelkarzinom", "squamous cell carcinoma")),),
    stages=(
        StageSpec("cT2b cN1 cM0 (FIGO IIIC1)", "IIIC1"),
        StageSpec("cT2b cN0 cM0 (FIGO IIB)", "IIB"),
        StageSpec("cT3a cN0 cM0 (FIGO IIIA)", "IIIA"),
    ),  # fmt: skip
    grades=("G2", "G3"),
    regimens=(
        Regimen(
            "cervix-rct-brachy",
            T(
                "primäre Radiochemotherapie des Beckens mit anschließender HDR-Brachytherapie",
                "primary pelvic chemoradiotherapy followed by HDR brachytherapy",
            ),
            Intent.definitive,
            (
                _v("PTV Becken + LAW", "PTV pelvis + nodes", 1.8, 28),
                _v("HR-CTV", "HR-CTV", 7.0, 4, boost=True, phase=1, vt="CTV"),
            ),
            concurrent=DrugSpec(
                ("cisplatin",), T("40 mg/m² wöchentlich", "40 mg/m² weekly"), T("Cisplatin", "cisplatin")
            ),
            brachy=BrachySpec(7.0, 4, T("intrauterine Sonde und Ring", "intrauterine tandem and ring")),
        ),
        Regimen(
            "cervix-rct-brachy-45",
            T(
                "primäre Radiochemotherapie des Beckens mit anschließender HDR-Brachytherapie",
                "primary pelvic chemoradiotherapy followed by HDR brachytherapy",
            ),
            Intent.definitive,
            (
                _v("PTV Becken + LAW", "PTV pelvis + nodes", 1.8, 25),
                _v("HR-CTV", "HR-CTV", 7.0, 4, boost=True, phase=1, vt="CTV"),
            ),
            concurrent=DrugSpec(
                ("cisplatin",), T("40 mg/m² wöchentlich", "40 mg/m² weekly"), T("Cisplatin", "cisplatin")
            ),
            brachy=BrachySpec(7.0, 4, T("intrauterine Sonde und Ovoide", "intrauterine tandem and ovoids")),
        ),
    ),
    toxicities=("Diarrhea", "Cystitis noninfective", "Nausea", "Fatigue", "Anemia", "White blood cell decreased"),
    follow_up=(_MRT_PELVIS,),
    recommendations=(
        T("MRT Becken 3 Monate nach Abschluss der Therapie.", "MRI pelvis 3 months after completion."),
        T("Vaginaldilatatoren ab 4 Wochen nach Abschluss.", "Vaginal dilators from 4 weeks after completion."),
        T("Gynäkologische Nachsorge mit Spekulumeinstellung.", "Gynaecological follow-up with speculum examination."),
    ),
)

LYMPHOMA = Entity(
    key="lymphoma",
    name=T("Lymphom", "Lymphoma"),
    sexes=(Sex.female, Sex.male),
    ages=(20, 80),
    diagnoses=(
        DiagnosisSpec(
            "C81.1",
            T("Klassisches Hodgkin-Lymphom, nodulär-sklerosierend", "Classical Hodgkin lymphoma, nodular sclerosis"),
        ),
        DiagnosisSpec("C83.3", T("Diffus großzelliges B-Zell-Lymphom", "Diffuse large B-cell lymphoma")),
        DiagnosisSpec("C82.1", T("Follikuläres Lymphom Grad II", "Follicular lymphoma grade II")),
    ),
    histologies=(),
    stages=(StageSpec("Ann Arbor IIA", "IIA"), StageSpec("Ann Arbor IA", "IA"), StageSpec("Ann Arbor IIB", "IIB")),
    regimens=(
        Regimen(
            "lymphoma-isrt-20",
            T(
                "konsolidierende Involved-Site-Radiatio (ISRT) zervikal",
                "consolidative involved-site radiotherapy (ISRT) of the neck",
            ),
            Intent.curative,
            (_v("PTV ISRT zervikal", "PTV ISRT neck", 2.0, 10),),
            diagnosis=0,
            prior=(_ABVD,),
            weight=2,
        ),
        Regimen(
            "lymphoma-isrt-30",
            T(
                "konsolidierende Involved-Site-Radiatio (ISRT) mediastinal",
                "consolidative involved-site radiotherapy (ISRT) of the mediastinum",
            ),
            Intent.curative,
            (_v("PTV ISRT mediastinal", "PTV ISRT mediastinum", 2.0, 15),),
            diagnosis=1,
            prior=(_RCHOP,),
        ),
        Regimen(
            "lymphoma-low",
            T("palliative Low-Dose-Radiatio inguinal", "palliative low-dose radiotherapy of the groin"),
            Intent.palliative,
            (_v("PTV inguinal", "PTV groin", 2.0, 2),),
            techniques=("3D-CRT",),
            diagnosis=2,
            prior=(),
        ),
    ),
    toxicities=("Fatigue", "Mucositis oral", "Esophagitis", "Nausea", "Dermatitis radiation"),
    follow_up=(_PET,),
    recommendations=(
        T(
            "Hämatologische Nachsorge durch die behandelnden Onkologen.",
            "Haematological follow-up by the treating oncologists.",
        ),
        T("TSH-Kontrolle jährlich bei Radiatio der Halsregion.", "Annual TSH check after neck irradiation."),
        _CONTACT,
    ),
)

SKIN = Entity(
    key="skin",
    name=T("Hauttumor", "Skin cancer"),
    sexes=(Sex.female, Sex.male),
    ages=(65, 95),
    diagnoses=(
        DiagnosisSpec(
            "C44.3", T("Basalzellkarzinom der Gesichtshaut (Nase)", "Basal cell carcinoma of the face (nose)")
        ),
        DiagnosisSpec("C44.2", T("Plattenepithelkarzinom der Ohrmuschel", "Squamous cell carcinoma of the ear"), True),
        DiagnosisSpec("C44.4", T("Plattenepithelkarzinom der Kopfhaut", "Squamous cell carcinoma of the scalp")),
    ),
    histologies=(
        HistologySpec("8090/3", T("Basalzellkarzinom", "basal cell carcinoma")),
        HistologySpec("8070/3", T("kutanes Plattenepithelkarzinom", "cutaneous squamous cell carcinoma")),
        HistologySpec("8070/3", T("kutanes Plattenepithelkarzinom", "cutaneous squamous cell carcinoma")),
    ),
    stages=(StageSpec("cT2 cN0 cM0", "II"), StageSpec("cT1 cN0 cM0", "I")),
    regimens=(
        Regimen(
            "skin-50",
            T("primäre Radiatio des Hauttumors", "primary radiotherapy of the skin tumour"),
            Intent.curative,
            (_v("PTV Haut", "PTV skin", 2.5, 20),),
            techniques=("3D-CRT",),
            modality="electrons",
            energies=("6 MeV", "9 MeV"),
            image_guidance=("clinical set-up",),
            weight=2,
        ),
        Regimen(
            "skin-40",
            T("hypofraktionierte Radiatio des Hauttumors", "hypofractionated radiotherapy of the skin tumour"),
            Intent.curative,
            (_v("PTV Haut", "PTV skin", 4.0, 10),),
            techniques=("3D-CRT",),
            modality="electrons",
            energies=("6 MeV",),
            image_guidance=("clinical set-up",),
        ),
        Regimen(
            "skin-35",
            T("hypofraktionierte Radiatio des Hauttumors", "hypofractionated radiotherapy of the skin tumour"),
            Intent.curative,
            (_v("PTV Haut", "PTV skin", 7.0, 5),),
            techniques=("3D-CRT",),
            modality="electrons",
            energies=("6 MeV",),
            image_guidance=("clinical set-up",),
        ),
    ),
    toxicities=("Dermatitis radiation", "Pruritus", "Fatigue"),
    follow_up=(T("Dermatologische Kontrolle", "Dermatology review"),),
    recommendations=(
        _SKIN_CARE,
        T("Konsequenter Lichtschutz der bestrahlten Region.", "Strict sun protection of the treated area."),
        T("Dermatologische Kontrollen alle 6 Monate.", "Dermatology review every 6 months."),
    ),
)

ANAL = Entity(
    key="anal",
    name=T("Analkarzinom", "Anal cancer"),
    sexes=(Sex.female, Sex.female, Sex.male),
    ages=(45, 82),
    diagnoses=(DiagnosisSpec("C21.1", T("Analkanalkarzinom", "Cancer of the anal canal")),),
    histologies=(
        HistologySpec("8070/3", T("Plattenepithelkarzinom, p16 positiv", "squamous cell carcinoma, p16 positive")),
    ),
    stages=(StageSpec("cT2 cN1a cM0", "IIIA"), StageSpec("cT3 cN0 cM0", "IIB")),
    regimens=(
        Regimen(
            "anal-rct",
            T(
                "definitive Radiochemotherapie des Analkanals und der Lymphabflusswege mit sequenziellem Boost",
                "definitive chemoradiotherapy of the anal canal and nodes with a sequential boost",
            ),
            Intent.definitive,
            (
                _v("PTV Analkanal + LAW", "PTV anal canal + nodes", 1.8, 28),
                _v("PTV Boost Primärtumor", "PTV boost primary", 1.8, 5, boost=True, phase=1),
            ),
            concurrent=DrugSpec(
                ("fluorouracil", "mitomycin"),
                T(
                    "5-FU 1000 mg/m² Tag 1-4 und 29-32, Mitomycin C 10 mg/m² Tag 1 und 29",
                    "5-FU 1000 mg/m² days 1-4 and 29-32, mitomycin C 10 mg/m² days 1 and 29",
                ),
                T("5-FU/Mitomycin C", "5-FU/mitomycin C"),
            ),
        ),
    ),
    toxicities=("Dermatitis radiation", "Diarrhea", "Proctitis", "Cystitis noninfective", "White blood cell decreased"),
    follow_up=(_MRT_PELVIS,),
    recommendations=(
        T(
            "Klinische Beurteilung des Ansprechens mit Proktoskopie 11 und 26 Wochen nach Therapiebeginn.",
            "Clinical response assessment with proctoscopy at 11 and 26 weeks from the start of treatment.",
        ),
        _SKIN_CARE,
        T("Sitzbäder mit Gerbstoffen.", "Sitz baths with tannin."),
    ),
)

BLADDER = Entity(
    key="bladder",
    name=T("Harnblasenkarzinom", "Bladder cancer"),
    sexes=(Sex.male, Sex.male, Sex.female),
    ages=(60, 88),
    diagnoses=(
        DiagnosisSpec(
            "C67.2",
            T("Urothelkarzinom der lateralen Harnblasenwand", "Urothelial carcinoma of the lateral bladder wall"),
        ),
        DiagnosisSpec("C67.9", T("Urothelkarzinom der Harnblase", "Urothelial carcinoma of the bladder")),
    ),
    histologies=(HistologySpec("8120/3", T("Urothelkarzinom, high grade", "urothelial carcinoma, high grade")),),
    stages=(StageSpec("pT2 cN0 cM0", "II"), StageSpec("pT2 cN0 cM0 (nach TUR-B)", "II")),
    surgeries=(
        SurgerySpec(
            "5-573.40",
            T("Transurethrale Resektion der Harnblase (TUR-B)", "Transurethral resection of bladder tumour (TURBT)"),
            (4, 7),
        ),
    ),
    regimens=(
        Regimen(
            "bladder-55",
            T(
                "blasenerhaltende hypofraktionierte Radiochemotherapie der Harnblase",
                "bladder-sparing hypofractionated chemoradiotherapy",
            ),
            Intent.curative,
            (_v("PTV Harnblase", "PTV bladder", 2.75, 20),),
            concurrent=DrugSpec(
                ("fluorouracil", "mitomycin"),
                T(
                    "5-FU 500 mg/m² Tag 1-5 und 16-20, Mitomycin C 12 mg/m² Tag 1",
                    "5-FU 500 mg/m² days 1-5 and 16-20, mitomycin C 12 mg/m² day 1",
                ),
                T("5-FU/Mitomycin C", "5-FU/mitomycin C"),
            ),
        ),
        Regimen(
            "bladder-64",
            T("blasenerhaltende Radiochemotherapie der Harnblase", "bladder-sparing chemoradiotherapy"),
            Intent.curative,
            (_v("PTV Harnblase", "PTV bladder", 2.0, 32),),
            concurrent=DrugSpec(
                ("fluorouracil", "mitomycin"),
                T(
                    "5-FU 500 mg/m² Tag 1-5 und 22-26, Mitomycin C 12 mg/m² Tag 1",
                    "5-FU 500 mg/m² days 1-5 and 22-26, mitomycin C 12 mg/m² day 1",
                ),
                T("5-FU/Mitomycin C", "5-FU/mitomycin C"),
            ),
        ),
    ),
    toxicities=("Cystitis noninfective", "Urinary frequency", "Diarrhea", "Proctitis", "Fatigue"),
    follow_up=(T("Zystoskopie", "Cystoscopy"),),
    recommendations=(
        T(
            "Kontrollzystoskopie mit Biopsie 3 Monate nach Abschluss.",
            "Check cystoscopy with biopsy 3 months after completion.",
        ),
        T("Ausreichende Trinkmenge von mindestens 2 Litern täglich.", "Drink at least 2 litres a day."),
        _BOARD,
    ),
)

ENTITIES: dict[str, Entity] = {
    e.key: e
    for e in (BREAST, PROSTATE, RECTUM, HEAD_NECK, GLIOBLASTOMA, NSCLC, BRAIN_METS, BONE_METS, OESOPHAGUS, CERVIX,
              LYMPHOMA, SKIN, ANAL, BLADDER)
}  # fmt: skip
