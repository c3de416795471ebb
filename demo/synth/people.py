"""Synthetic people and places: patients, referring practices, the department's physicians.

All names are invented combinations of common German (or English) given and family names; streets, towns and
postcodes are plausible but chosen at random. "Rheinstadt" is a fictional university town.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rtletter.mappers.case import Physician, Sex

GIVEN_DE: dict[Sex, tuple[str, ...]] = {
    Sex.female: ("Anna", "Birgit", "Claudia", "Doris", "Elke", "Erika", "Gabriele", "Hannelore", "Ingrid", "Jutta",
                 "Karin", "Lena", "Monika", "Petra", "Renate", "Sabine", "Ursula", "Jürgen", "Gisela", "Bärbel",
                 "Marlene", "Sophie", "Jana", "Katrin"),
    Sex.male: ("Andreas", "Bernd", "Dieter", "Frank", "Günter", "Hans", "Heinz", "Jürgen", "Klaus", "Lukas",
               "Manfred", "Michael", "Norbert", "Peter", "Rainer", "Stefan", "Thomas", "Uwe", "Wolfgang", "Jörg",
               "Matthias", "Björn", "Tobias", "Yusuf"),
}  # fmt: skip
GIVEN_DE[Sex.female] = tuple(n for n in GIVEN_DE[Sex.female] if n != "Jürgen")
FAMILY_DE: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Schäfer",
    "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger",
    "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler", "Weiß", "Jäger",
    "Groß", "Böhm", "Yildiz", "Nowak", "Kaya", "Vogel", "Günther",
)  # fmt: skip
GIVEN_EN: dict[Sex, tuple[str, ...]] = {
    Sex.female: ("Alice", "Catherine", "Eleanor", "Emma", "Grace", "Helen", "Julia", "Margaret", "Olivia", "Rachel",
                 "Sarah", "Susan", "Victoria", "Amelia", "Fiona", "Joanne"),
    Sex.male: ("Andrew", "Benjamin", "Charles", "David", "Edward", "George", "Henry", "James", "John", "Matthew",
               "Michael", "Oliver", "Peter", "Richard", "Thomas", "William"),
}  # fmt: skip
FAMILY_EN: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright", "Thompson",
    "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Hughes", "Patel", "Khan",
    "O'Brien", "Murphy", "Campbell",
)  # fmt: skip

STREETS_DE: tuple[str, ...] = ("Hauptstraße", "Lindenstraße", "Bahnhofstraße", "Schillerstraße", "Goethestraße",
                               "Am Mühlbach", "Gartenweg", "Rosenstraße", "Kirchgasse", "Brückenstraße",
                               "Friedrich-Ebert-Straße", "Am Schloßpark", "Weinbergweg", "Mühlenstraße")  # fmt: skip
TOWNS_DE: tuple[tuple[str, str], ...] = (("69117", "Heidelberg"), ("68159", "Mannheim"), ("67346", "Speyer"),
                                         ("76829", "Landau in der Pfalz"), ("69469", "Weinheim"), ("74821", "Mosbach"),
                                         ("67059", "Ludwigshafen am Rhein"), ("64646", "Heppenheim"),
                                         ("69168", "Wiesloch"), ("76646", "Bruchsal"), ("67433", "Neustadt an der "
                                         "Weinstraße"), ("68723", "Schwetzingen"))  # fmt: skip
STREETS_EN: tuple[str, ...] = (
    "Mill Lane",
    "Church Street",
    "Station Road",
    "Park Avenue",
    "High Street",
    "Victoria Road",
    "Green Lane",
    "Manor Close",
    "Orchard Way",
    "Queen's Road",
)
TOWNS_EN: tuple[tuple[str, str], ...] = (("OX1 2JD", "Oxford"), ("CB2 0QQ", "Cambridge"), ("LS6 3EX", "Leeds"),
                                         ("YO1 7HH", "York"), ("BA1 5AW", "Bath"), ("NR2 4PD", "Norwich"),
                                         ("EX4 6PX", "Exeter"), ("SN1 3LF", "Swindon"))  # fmt: skip

TITLES_DE: tuple[str, ...] = ("Dr. med.", "Dr. med.", "Dr. med.", "Prof. Dr. med.", "PD Dr. med.", "Dipl.-Med.")
TITLES_EN: tuple[str, ...] = ("Dr", "Dr", "Dr", "Prof.", "Mr")  # "Mr" for a consultant surgeon, British usage

# Referring specialty per entity: (German practice/department, English).
REFERRERS: dict[str, tuple[tuple[str, str], ...]] = {
    "breast": (("Frauenarztpraxis", "Gynaecology practice"), ("Brustzentrum, Klinik für Gynäkologie",
               "Breast Unit, Department of Gynaecology")),
    "prostate": (("Urologische Gemeinschaftspraxis", "Urology practice"), ("Klinik für Urologie",
                 "Department of Urology")),
    "rectum": (("Klinik für Allgemein- und Viszeralchirurgie", "Department of General and Visceral Surgery"),
               ("Gastroenterologische Praxis", "Gastroenterology practice")),
    "head_neck": (("Klinik für Hals-, Nasen- und Ohrenheilkunde", "Department of Otorhinolaryngology"),
                  ("Klinik für Mund-, Kiefer- und Gesichtschirurgie", "Department of Oral and Maxillofacial Surgery")),
    "glioblastoma": (("Neurochirurgische Klinik", "Department of Neurosurgery"),),
    "nsclc": (("Thoraxklinik, Pneumologie", "Thoracic Clinic, Pneumology"), ("Lungenfachärztliche Praxis",
              "Respiratory medicine practice")),
    "brain_mets": (("Onkologische Schwerpunktpraxis", "Oncology practice"), ("Neurochirurgische Klinik",
                   "Department of Neurosurgery")),
    "bone_mets": (("Onkologische Schwerpunktpraxis", "Oncology practice"), ("Klinik für Orthopädie und "
                  "Unfallchirurgie", "Department of Orthopaedics")),
    "oesophagus": (("Klinik für Allgemein- und Viszeralchirurgie", "Department of General and Visceral Surgery"),
                   ("Medizinische Klinik, Gastroenterologie", "Department of Gastroenterology")),
    "cervix": (("Klinik für Gynäkologie und Geburtshilfe", "Department of Gynaecology"), ("Frauenarztpraxis",
               "Gynaecology practice")),
    "lymphoma": (("Medizinische Klinik, Hämatologie und Onkologie", "Department of Haematology and Oncology"),),
    "skin": (("Hautarztpraxis", "Dermatology practice"), ("Hautklinik", "Department of Dermatology")),
    "anal": (("Klinik für Allgemein- und Viszeralchirurgie", "Department of General and Visceral Surgery"),
             ("Proktologische Praxis", "Proctology practice")),
    "bladder": (("Klinik für Urologie", "Department of Urology"), ("Urologische Gemeinschaftspraxis",
                "Urology practice")),
}  # fmt: skip

# Letter styles, one per attending (a physician writes in one style; see letters.py).
STYLES: tuple[str, ...] = ("narrative", "terse", "bullets", "classic")


@dataclass(frozen=True)
class Department:
    name: str
    clinic: str
    head: str
    town: str
    attendings: tuple[tuple[Physician, str], ...]  # (physician, style)


def _staff(names: tuple[tuple[str, str, str, Sex], ...]) -> tuple[tuple[Physician, str], ...]:
    return tuple(
        (Physician(id=f"RO-{i + 1:02d}", prefix=prefix, given=given, family=family, sex=sex), STYLES[i % len(STYLES)])
        for i, (prefix, given, family, sex) in enumerate(names)
    )


DEPARTMENTS: dict[str, Department] = {
    "de": Department(
        name="Universitätsklinikum Rheinstadt",
        clinic="Klinik für Radioonkologie und Strahlentherapie",
        head="Prof. Dr. med. Hans-Georg Albrecht",
        town="Rheinstadt",
        attendings=_staff(
            (
                ("Dr. med.", "Katharina", "Lindner", Sex.female),
                ("PD Dr. med.", "Martin", "Söllner", Sex.male),
                ("Dr. med.", "Julia", "Hähnel", Sex.female),
                ("Dr. med.", "Felix", "Brandt", Sex.male),
                ("Prof. Dr. med.", "Sabine", "Okonkwo", Sex.female),
                ("Dr. med.", "Ömer", "Demir", Sex.male),
            )
        ),
    ),
    "en": Department(
        name="Rheinstadt University Hospital",
        clinic="Department of Radiation Oncology",
        head="Prof. Hans-Georg Albrecht",
        town="Rheinstadt",
        attendings=_staff(
            (
                ("Dr", "Katharina", "Lindner", Sex.female),
                ("Dr", "Martin", "Söllner", Sex.male),
                ("Dr", "Julia", "Hähnel", Sex.female),
                ("Dr", "Felix", "Brandt", Sex.male),
                ("Prof.", "Sabine", "Okonkwo", Sex.female),
                ("Dr", "Ömer", "Demir", Sex.male),
            )
        ),
    ),
}


def person_name(rng: random.Random, sex: Sex, lang: str) -> tuple[str, str]:
    given = GIVEN_DE if lang == "de" else GIVEN_EN
    family = FAMILY_DE if lang == "de" else FAMILY_EN
    pool = given[sex if sex in given else Sex.female]
    return rng.choice(pool), rng.choice(family)


def address(rng: random.Random, lang: str) -> str:
    if lang == "de":
        postcode, town = rng.choice(TOWNS_DE)
        return f"{rng.choice(STREETS_DE)} {rng.randint(1, 98)}, {postcode} {town}"
    postcode, town = rng.choice(TOWNS_EN)
    return f"{rng.randint(1, 98)} {rng.choice(STREETS_EN)}, {town} {postcode}"


def physician(rng: random.Random, lang: str, organization: str, pid: str) -> Physician:
    sex = rng.choice((Sex.female, Sex.male))
    given, family = person_name(rng, sex, lang)
    titles = TITLES_DE if lang == "de" else TITLES_EN
    prefix = rng.choice(titles)
    if prefix == "Mr" and sex is Sex.female:
        prefix = "Ms"
    return Physician(id=pid, prefix=prefix, given=given, family=family, sex=sex, organization=organization,
                     address=address(rng, lang))  # fmt: skip
