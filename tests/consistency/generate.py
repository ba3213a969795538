#!/usr/bin/env python3
"""Writes the consistency cases as wire frames for the native and wasm runners.

Each family file cases/<family>.py defines cases() returning dicts (format: see README.md here):
  {"name", "op", "params", "inputs": [np.ndarray], "expected": np.ndarray | None, "error": str,
   "rtol", "atol"}
For every case this appends to <out>/frames.bin a one-op "assign" frame (inputs named in0, in1,
...; the op's id is "out") and, for a value case, a frame holding the expected tensor "expected"
(one file rather than thousands: file creation is slow on a loaded machine). <out>/index.json
lists the cases with what the runners check, the tolerance to use, and each frame's
{"offset", "length"} in frames.bin. <out> is emptied first, so stale runner outputs never
survive a regeneration.

Usage: generate.py --out DIR [--families source,elementwise,...] [--cases-dir DIR]
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import sys

import numpy as np

from frames import WIRE_DTYPES, encode_frame

FAMILIES = ["source", "elementwise", "reduce", "linalg", "movement", "nn", "optim"]
CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")

# Default tolerance per result dtype: |actual - expected| <= atol + rtol * |expected|.
TOLERANCES = {
    "float32": {"rtol": 1e-5, "atol": 1e-6},
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "int32": {"rtol": 0.0, "atol": 0.0},
    "bool": {"rtol": 0.0, "atol": 0.0},
}
CASE_KEYS = {"name", "op", "params", "inputs", "expected", "error", "rtol", "atol"}


class CaseError(Exception):
    """A case that does not follow the format; the message names the case and the problem."""


def load_family(cases_dir, family):
    """The family's case list, or None when its file does not exist (yet)."""
    path = os.path.join(cases_dir, family + ".py")
    if not os.path.exists(path):
        return None
    if cases_dir not in sys.path:
        sys.path.insert(0, cases_dir)  # the case files import their shared helpers (common.py)
    spec = importlib.util.spec_from_file_location(f"corvid_cases_{family}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "cases"):
        raise CaseError(f"{path}: defines no cases() function")
    return module.cases()


def check_array(case_name, what, value):
    if not isinstance(value, np.ndarray):
        raise CaseError(f"case '{case_name}': {what} must be a NumPy array, got {type(value).__name__}")
    if value.dtype not in WIRE_DTYPES:
        raise CaseError(f"case '{case_name}': {what} has dtype {value.dtype}; use float32, float64, int32 or bool")


def index_entry(family, number, case):
    """Validates one case and returns its index entry (without file names)."""
    name = case.get("name")
    if not isinstance(name, str) or "/" not in name:
        raise CaseError(f"{family}: case {number} needs a name '<op>/<what>', got {name!r}")
    unknown = set(case) - CASE_KEYS
    if unknown:
        raise CaseError(f"case '{name}': unknown keys {sorted(unknown)}")
    if not isinstance(case.get("op"), str):
        raise CaseError(f"case '{name}': 'op' must be a string")
    if not isinstance(case.get("params", {}), dict):
        raise CaseError(f"case '{name}': 'params' must be a dict")
    inputs = case.get("inputs", [])
    if not isinstance(inputs, (list, tuple)):
        raise CaseError(f"case '{name}': 'inputs' must be a list of arrays")
    for i, array in enumerate(inputs):
        check_array(name, f"input {i}", array)
    entry = {"name": name, "op": case["op"], "family": family}
    has_error, has_expected = "error" in case, "expected" in case
    if has_error == has_expected:
        raise CaseError(f"case '{name}': give exactly one of 'expected' and 'error'")
    if has_error:
        if not isinstance(case["error"], str) or not case["error"]:
            raise CaseError(f"case '{name}': 'error' must be a non-empty substring of the expected message")
        entry.update(kind="error", error=case["error"])
        return entry
    expected = case["expected"]
    if expected is None:
        if not case["op"].startswith("random_"):
            raise CaseError(f"case '{name}': 'expected': None is only for random_* ops")
        entry.update(kind="random", rtol=0.0, atol=0.0)
        return entry
    check_array(name, "expected", expected)
    tolerance = dict(TOLERANCES[WIRE_DTYPES[expected.dtype]])
    for key in ("rtol", "atol"):
        if key in case:
            value = case[key]
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise CaseError(f"case '{name}': '{key}' must be a non-negative number")
            tolerance[key] = float(value)
    entry.update(kind="value", **tolerance)
    return entry


def assign_frame(number, case):
    inputs = case.get("inputs", [])
    names = [f"in{i}" for i in range(len(inputs))]
    header = {"type": "assign", "group_id": number,
              "ops": [{"id": "out", "op": case["op"], "inputs": names, "params": case.get("params", {})}],
              "outputs": ["out"]}
    try:
        return encode_frame(header, list(zip(names, inputs)))
    except (TypeError, ValueError) as e:
        raise CaseError(f"case '{case['name']}': {e}") from None


def generate(out_dir, families, cases_dir=CASES_DIR):
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    index, names, missing = [], set(), []
    with open(os.path.join(out_dir, "frames.bin"), "wb") as frames:
        def append(frame):
            """Writes a frame (frames are multiples of 8 bytes long) and returns where it is."""
            place = {"offset": frames.tell(), "length": len(frame)}
            frames.write(frame)
            return place

        for family in families:
            cases = load_family(cases_dir, family)
            if cases is None:
                missing.append(family)
                continue
            for case in cases:
                number = len(index) + 1
                entry = index_entry(family, number, case)
                if entry["name"] in names:
                    raise CaseError(f"case '{entry['name']}' appears twice")
                names.add(entry["name"])
                entry["assign"] = append(assign_frame(number, case))
                if entry["kind"] == "value":
                    entry["expected"] = append(encode_frame({"type": "expected"}, [("expected", case["expected"])]))
                index.append(entry)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"families": families, "missing_families": missing, "cases": index}, f, indent=1)
    return index, missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to (re)create")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated family names")
    parser.add_argument("--cases-dir", default=CASES_DIR, help="where the <family>.py files are")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    for family in families:
        if family not in FAMILIES:
            sys.exit(f"generate.py: unknown family '{family}' (known: {', '.join(FAMILIES)})")
    try:
        index, missing = generate(args.out, families, args.cases_dir)
    except CaseError as e:
        sys.exit(f"generate.py: {e}")
    counts = {f: sum(1 for e in index if e["family"] == f) for f in families if f not in missing}
    print(f"generate.py: {len(index)} cases " + ", ".join(f"{f} {n}" for f, n in counts.items()))
    for family in missing:
        print(f"generate.py: no {family}.py in {args.cases_dir} yet (the coverage check will name its ops)")


if __name__ == "__main__":
    main()
