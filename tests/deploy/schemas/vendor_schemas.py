"""Refresh the vendored schemas from the PyPI wheels that ship them (run by hand; the tests never download).

    pip download --no-deps -d /tmp/wheels check-jsonschema==0.39.0 kubernetes-validate==1.37.0
    python tests/deploy/schemas/vendor_schemas.py /tmp/wheels

- compose-spec.json (+ LICENSE.compose-spec): from check-jsonschema's vendored copy of the compose-spec schema.
- kubernetes/: the "-local-strict" schemas of kubernetes-validate (strict: unknown fields are refused) for the kinds
  used in deploy/k8s, with _definitions.json cut down to the definitions those kinds reach.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
K8S_VERSION = "v1.37.0"
K8S_KINDS = (
    "configmap-v1",
    "secret-v1",
    "service-v1",
    "serviceaccount-v1",
    "persistentvolumeclaim-v1",
    "deployment-apps-v1",
    "networkpolicy-networking-v1",
    "poddisruptionbudget-policy-v1",
)


def _refs(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            found.add(ref.split("#/$defs/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def main(wheels: Path) -> None:
    (check_whl,) = wheels.glob("check_jsonschema-*.whl")
    (k8s_whl,) = wheels.glob("kubernetes_validate-*.whl")
    with zipfile.ZipFile(check_whl) as whl:
        vendor = "check_jsonschema/builtin_schemas/vendor/"
        (HERE / "compose-spec.json").write_bytes(whl.read(vendor + "compose-spec.json"))
        (HERE / "LICENSE.compose-spec").write_bytes(whl.read(vendor + "licenses/LICENSE.compose-spec"))
    out = HERE / "kubernetes"
    out.mkdir(exist_ok=True)
    with zipfile.ZipFile(k8s_whl) as whl:
        base = f"kubernetes_validate/kubernetes-json-schema/{K8S_VERSION}-local-strict/"
        document = json.loads(whl.read(base + "_definitions.json"))
        definitions = document["$defs"]
        todo: set[str] = set()
        for kind in K8S_KINDS:
            text = whl.read(base + f"{kind}.json")
            (out / f"{kind}.json").write_bytes(text)
            todo |= _refs(json.loads(text))
        keep: dict[str, object] = {}
        while todo:
            name = todo.pop()
            if name in keep:
                continue
            keep[name] = definitions[name]
            todo |= _refs(definitions[name]) - keep.keys()
        document["$defs"] = dict(sorted(keep.items()))
        pruned = json.dumps(document, indent=1, sort_keys=True)
        (out / "_definitions.json").write_text(pruned + "\n", encoding="utf-8")
        (out / "LICENSE").write_bytes(whl.read("kubernetes_validate-1.37.0.dist-info/licenses/LICENSE"))
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(HERE.rglob("*.json"))}
    print(
        json.dumps({"check_jsonschema": check_whl.name, "kubernetes_validate": k8s_whl.name, "sha256": sums}, indent=1)
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
