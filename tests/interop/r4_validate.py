"""Validate FHIR JSON with the literal R4 (4.0.1) models of fhir.resources 6.4.0.

Run by the R4 test environment's own Python (`.venv-fhir-r4/bin/python`, pydantic 1),
never imported by the suite: `python r4_validate.py FILE...`. A `.json` file holds one
resource (a Bundle or any other); a `.ndjson` file one resource per line. Prints one
line per file and exits 1 on the first file with an invalid resource.
"""

from __future__ import annotations

import json
import sys


def check(resource: dict) -> None:
    from fhir.resources import FHIRAbstractModel, get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"])
    parsed = model.parse_obj(resource)
    assert isinstance(parsed, FHIRAbstractModel)


def main(paths: list[str]) -> int:
    import fhir.resources

    if fhir.resources.__fhir_version__ != "4.0.1":
        print(f"expected FHIR 4.0.1 models, found {fhir.resources.__fhir_version__}")
        return 2
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            if path.endswith(".ndjson"):
                resources = [json.loads(line) for line in handle if line.strip()]
            else:
                resources = [json.load(handle)]
        try:
            for resource in resources:
                check(resource)
        except Exception as exc:  # report which file and why, then fail
            print(f"INVALID {path}: {exc}")
            return 1
        print(f"ok {path}: {len(resources)} resource(s), FHIR {fhir.resources.__fhir_version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
