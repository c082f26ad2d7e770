"""Runs recur's exported ONNX models in onnxruntime and compares them with recur's own outputs.

Pinned versions (make the environment outside the repository):
    python3 -m venv /root/onnx-venv
    /root/onnx-venv/bin/pip install onnxruntime==1.31.1 onnx==1.23.2 numpy

Usage:
    /root/onnx-venv/bin/python scripts/onnx_check.py            # writes the cases with cargo, then checks
    /root/onnx-venv/bin/python scripts/onnx_check.py CASES_DIR  # checks cases written before

The cases come from the Rust test crates/recur/tests/onnx_export.rs (RECUR_ONNX_CASES=DIR): each
model (character models, classifiers, a regressor, forecasters) exported with ragged sequence
lengths where the model takes them, its inputs, and recur's outputs on them. Each file must pass
onnx.checker.check_model (full check, with shape inference), and each output must match recur's
within 1e-5 relative to the output's largest magnitude.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

PINNED = {"onnxruntime": "1.31.1", "onnx": "1.23.2"}
TOLERANCE = 1e-5


def check_versions():
    found = {"onnxruntime": ort.__version__, "onnx": onnx.__version__}
    wrong = [f"{k} {found[k]} (pinned {v})" for k, v in PINNED.items() if found[k] != v]
    if wrong:
        sys.exit("onnx_check.py: " + ", ".join(wrong) + "; install the pinned versions")


def write_cases(directory):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, RECUR_ONNX_CASES=directory)
    cmd = ["cargo", "test", "-p", "recur", "--test", "onnx_export", "cases_for_onnxruntime"]
    subprocess.run(cmd, cwd=root, env=env, check=True)


def check_case(path):
    case = json.load(open(path))
    model_path = os.path.join(os.path.dirname(path), case["model"])
    onnx.checker.check_model(onnx.load(model_path), full_check=True)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    feeds = {
        i["name"]: np.array(i["data"], dtype=i["dtype"]).reshape(i["shape"]) for i in case["inputs"]
    }
    names = [o["name"] for o in case["outputs"]]
    got = dict(zip(names, session.run(names, feeds)))
    ok = True
    for want in case["outputs"]:
        expected = np.array(want["data"], dtype=np.float64).reshape(want["shape"])
        actual = got[want["name"]].astype(np.float64)
        if actual.shape != expected.shape:
            print(f"FAIL {case['model']} {want['name']}: shape {actual.shape}, recur {expected.shape}")
            ok = False
            continue
        scale = max(np.abs(expected).max(), 1e-12)
        err = np.abs(actual - expected).max() / scale
        status = "ok  " if err <= TOLERANCE else "FAIL"
        ok &= err <= TOLERANCE
        print(f"{status} {case['model']:34} {want['name']:10} shape {str(list(expected.shape)):12} "
              f"max relative error {err:.2e}")
    return ok


def main():
    check_versions()
    if len(sys.argv) > 1:
        directory = sys.argv[1]
    else:
        directory = tempfile.mkdtemp(prefix="recur-onnx-")
        write_cases(directory)
    paths = sorted(glob.glob(os.path.join(directory, "*.json")))
    if not paths:
        sys.exit(f"onnx_check.py: no cases (*.json) in {directory}")
    results = [check_case(p) for p in paths]
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
