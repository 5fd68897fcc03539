"""The Python peer: what a Python service would do with the same file, on one core.

json.loads the whole file, then py-ocsf-models' DetectionFinding.model_validate on each
record (the model the Prowler CLI itself writes its OCSF output with). Usage:
    peer.py RESULTS_JSON NAME=FILE...
Each file runs until at least a second has passed (at least once)."""

import json
import sys
import time

from py_ocsf_models.events.findings.detection_finding import DetectionFinding

MIN_TIME = 1.0


def repeat(fn):
    started = time.perf_counter()
    runs = 0
    result = None
    while runs < 1 or time.perf_counter() - started < MIN_TIME:
        result = fn()
        runs += 1
    return (time.perf_counter() - started) / runs, result


def validate(data):
    valid = invalid = 0
    for record in json.loads(data):
        try:
            DetectionFinding.model_validate(record)
            valid += 1
        except Exception:
            invalid += 1
    return valid, invalid


def measure(path):
    with open(path, "rb") as f:
        data = f.read()
    mb = len(data) / 1e6
    loads, records = repeat(lambda: len(json.loads(data)))
    full, (valid, invalid) = repeat(lambda: validate(data))

    def rate(secs):
        return {"mb_per_s": mb / secs, "records_per_s": records / secs, "seconds": secs}

    return {
        "bytes": len(data),
        "records": records,
        "valid": valid,
        "invalid": invalid,
        "json_loads": rate(loads),
        "json_loads_model_validate": rate(full),
    }


def main():
    out_path, pairs = sys.argv[1], sys.argv[2:]
    results = {}
    for pair in pairs:
        name, path = pair.split("=", 1)
        results[name] = measure(path)
        print(name, json.dumps(results[name]), file=sys.stderr)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
