"""Hypothesis strategies for hostile input: mutated HL7 v2 messages and mutated FHIR JSON (issue 14).

Seeds are small real-shaped messages (a radiotherapy ORU^R01, an ADT^A08, a synthetic patient's Bundle) so that the
mutants reach deep into the parsers, not only their first check. Used by the mapper fuzz tests beside this file and
by the MLLP listener's in tests/agent.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# At least 500 examples per target, the same ones on every run (derandomize: the seed is fixed by the test's name).
FUZZ = settings(
    max_examples=500,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ORU = (
    b"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ORU^R01^ORU_R01|C1|P|2.5.1||||||8859/1\r"
    b"PID|1||4711^^^^MR||M\xfcller^J\xf6rg||19610412|M\r"
    b"PV1|1|O|||||||||||||||||RT42\r"
    b"OBR|1||RT42|1217123003^Radiotherapy course summary^SCT|||20260101|20260228\r"
    b"OBX|1|NM|1156854004^Total dose^SCT||60|Gy|||||F\r"
    b"OBX|2|TX|TEXT||Bestrahlung \\.br\\gut vertragen||||||F\r"
)
ADT = (
    b"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ADT^A08^ADT_A01|A1|P|2.5.1|||AL|NE\r"
    b"EVN|A08|20260301120000\rPID|1||4711^^^^MR||Muster^Max||19700101|M\rPV1|1|O\r"
)
SEEDS_V2 = (ORU, ADT)
CHARSETS = (
    "",
    "8859/1",
    "8859/15",
    "UNICODE UTF-8",
    "UTF-8",
    "ASCII",
    "UNICODE UTF-16",
    "UNICODE UTF-32",
    "UTF-16",
    "utf_16_le",
    "UTF-\x008",
    "\x00",
    "zlib",
    "rot13",
    "idna",
    "utf-7",
    "cp037",
    "punycode",
    "unicode_escape",
    "KLINGON",
    "shift_jis",
    "iso2022_jp",
)
# Bytes that mean something to the parsers: separators, escapes, segment ends, framing, BOMs, NUL, high latin-1.
SPECIAL = st.sampled_from(
    [b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\r\n", b"\x00", b"\x0b", b"\x1c", b"\xef\xbb\xbf", b"\xff\xfe"]
    + [b"\\X", b"\\.br\\", b"\\X0D\\", b"\\Z", b"\xfc", b"\xc3", b"MSH|", b"BHS|", b"BTS|1", b"FHS|"]
)
CHUNK = st.one_of(SPECIAL, st.binary(min_size=1, max_size=12))


def _msh_fields(message: bytes) -> tuple[list[bytes], bytes]:
    first, _, rest = message.partition(b"\r")
    return first.split(b"|"), rest


@st.composite
def v2_messages(draw: st.DrawFn) -> bytes:
    """A mutant of a seed message, or bytes that only start like one."""
    seed = draw(st.sampled_from(SEEDS_V2))
    kind = draw(st.sampled_from(["charset", "charset", "field", "bytes", "segments", "random"]))
    if kind == "charset":
        fields, rest = _msh_fields(seed)  # fields[0] is "MSH", fields[n] MSH-(n+1)
        fields += [b""] * (18 - len(fields))
        name = draw(st.one_of(st.sampled_from(CHARSETS), st.sampled_from(CHARSETS), st.text(max_size=12)))
        fields[17] = name.encode("utf-8", errors="surrogatepass")
        body = b"|".join(fields) + b"\r" + rest
        if draw(st.booleans()):  # the bytes in another set than MSH-18 says
            body = body.decode("latin-1").encode(draw(st.sampled_from(["utf-8", "utf-16", "cp1252"])), "replace")
        return body
    if kind == "field":
        segments = seed.split(b"\r")
        index = draw(st.integers(0, len(segments) - 2))
        fields = segments[index].split(b"|")
        position = draw(st.integers(0, len(fields) + 3))
        value = draw(st.one_of(CHUNK, st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))))
        if position < len(fields):
            fields[position] = value
        else:
            fields += [b""] * (position - len(fields)) + [value]
        segments[index] = b"|".join(fields)
        return b"\r".join(segments)
    if kind == "bytes":
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data)))
            action = draw(st.sampled_from(["insert", "delete", "replace"]))
            if action == "insert":
                data[at:at] = draw(CHUNK)
            elif action == "delete":
                del data[at : at + draw(st.integers(1, 40))]
            else:
                data[at : at + 1] = draw(CHUNK)
        return bytes(data)
    if kind == "segments":
        segments = [s for s in seed.split(b"\r") if s]
        order = draw(st.permutations(range(len(segments))))
        kept = [segments[i] for i in order if draw(st.booleans()) or i == 0]
        kept += [segments[draw(st.integers(0, len(segments) - 1))]] * draw(st.integers(0, 3))
        end = draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))
        return end.join(kept) + end
    prefix = draw(st.sampled_from([b"", b"MSH|^~\\&|", b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|X|P|2.5.1|"]))
    return prefix + draw(st.binary(max_size=300))


@cache
def seed_bundle() -> dict[str, Any]:
    from rtletter.demo.synth import generate_cohort

    return generate_cohort(1, seed=14)[0].bundle


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def fhir_documents(draw: st.DrawFn) -> bytes:
    """A mutant of a course-summary Bundle (a value swapped, a key dropped), its JSON text cut or spliced, nesting
    far deeper than any resource, or bytes that only start like JSON."""
    kind = draw(st.sampled_from(["value", "drop", "text", "deep", "random"]))
    if kind in ("value", "drop"):
        bundle = json.loads(json.dumps(seed_bundle()))
        paths = [p for p in _paths(bundle) if p]
        path = paths[draw(st.integers(0, len(paths) - 1))]
        parent = bundle
        for step in path[:-1]:
            parent = parent[step]
        if kind == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
        return json.dumps(bundle).encode("utf-8")
    if kind == "text":
        data = bytearray(json.dumps(seed_bundle()).encode("utf-8"))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            if draw(st.booleans()):
                data[at:at] = draw(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\x00", b"\xff"]))
            else:
                del data[at : at + draw(st.integers(1, 30))]
        return bytes(data)
    if kind == "deep":
        depth = draw(st.integers(60, 20_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = opener * depth + b"1" + closer * depth
        return b'{"resourceType": "Bundle", "type": "collection", "entry": ' + inner + b"}"
    return draw(st.sampled_from([b"", b"{", b"["])) + draw(st.binary(max_size=200))
