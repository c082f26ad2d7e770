"""Runs recur's exported ONNX models in onnxruntime and compares them with recur's own outputs.

Pinned versions (make the environment outside the repository):
    python3 -m venv /root/onnx-venv
    /root/onnx-venv/bin/pip install onnxruntime==1.31.1 onnx==1.23.2 numpy

Usage:
    /root/onnx-venv/bin/python scripts/onnx_check.py            # writes the cases with cargo, then checks
    /root/onnx-venv/bin/python scripts/onnx_check.py CASES_DIR  # checks cases written before

The cases come from the Rust test crates/recur/tests/onnx_export.rs (RECUR_ONNX_CASES=DIR): each
model (character models, classifiers, a regressor, forecasters, acoustic models) exported with
ragged sequence lengths where the model takes them, its inputs, and recur's outputs on them. Each
file must pass onnx.checker.check_model (full check, with shape inference), and each output must
match recur's within 1e-5 relative to the output's largest magnitude.

A translation case ("kind": "translation") holds an encoder and a decoder-step file, source
sentences of ragged lengths and recur's greedy translations of them. The sentences are decoded
greedily here, in onnxruntime (the encoder once, the decoder step by step, the argmax of each
step's log-probabilities until </s> or the maximum length): the tokens must be recur's exactly,
and each step's log-probabilities (padding and <s> at -inf in both) and attention weights must
match recur's within 1e-5 relative.
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


def report(ok, name, output, shape, err):
    status = "ok  " if ok else "FAIL"
    print(f"{status} {name:34} {output:10} shape {str(list(shape)):12} max relative error {err:.2e}")


def relative_error(actual, expected):
    """The largest difference over the largest finite expected magnitude; non-finite expected
    values (-inf) must be equal in `actual`, else the error is infinite."""
    finite = np.isfinite(expected)
    if not np.array_equal(actual[~finite], expected[~finite]):
        return float("inf")
    scale = max(np.abs(expected[finite]).max(initial=0.0), 1e-12)
    return float(np.abs(actual[finite] - expected[finite]).max(initial=0.0) / scale)


def check_translation(path, case):
    directory = os.path.dirname(path)
    sessions = {}
    for part in ("encoder", "decoder"):
        model_path = os.path.join(directory, case[part])
        onnx.checker.check_model(onnx.load(model_path), full_check=True)
        sessions[part] = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    sources, max_len = case["sources"], case["max_len"]
    n, s = len(sources), max(len(x) for x in sources)
    tokens = np.zeros((s, n), np.int64)
    for b, src in enumerate(sources):
        tokens[: len(src), b] = src
    lengths = np.array([len(x) for x in sources], np.int64)
    encoder = sessions["encoder"]
    enc_names = [o.name for o in encoder.get_outputs()]
    enc = dict(zip(enc_names, encoder.run(enc_names, {"tokens": tokens, "lengths": lengths})))
    decoder = sessions["decoder"]
    dec_names = [o.name for o in decoder.get_outputs()]
    state = {k: enc[k] for k in ("h0", "c0") if k in enc}
    prev = np.full(n, case["bos"], np.int64)
    got = [[] for _ in range(n)]
    rows = [[] for _ in range(n)]
    weights = [[] for _ in range(n)]
    done = [False] * n
    for _ in range(max(max_len)):
        if all(done):
            break
        feeds = dict(state, prev_token=prev, encoder_outputs=enc["encoder_outputs"],
                     src_lengths=lengths)
        out = dict(zip(dec_names, decoder.run(dec_names, feeds)))
        state = {"h0": out["h_n"]}
        if "c_n" in out:
            state["c0"] = out["c_n"]
        for b in range(n):
            if done[b]:
                continue
            row = out["log_probs"][b]
            rows[b].append(row)
            weights[b].append(out["attention"][b, : len(sources[b])])
            best = int(row.argmax())  # the first of equal maxima: the lower id, as recur
            if best == case["eos"]:
                done[b] = True
            else:
                got[b].append(best)
                done[b] = len(got[b]) == max_len[b]
            prev[b] = best
    name = case["encoder"].removesuffix(".encoder.onnx")
    ok = got == case["tokens"]
    finished = [len(t) < m for t, m in zip(got, max_len)]
    ok &= finished == case["finished"]
    lengths_out = [len(t) for t in got]
    print(f"{'ok  ' if ok else 'FAIL'} {name:34} {'tokens':10} greedy lengths {lengths_out}"
          + ("" if ok else f" (recur {[len(t) for t in case['tokens']]}: {got} vs {case['tokens']})"))
    for output, mine, theirs in (("log_probs", rows, case["log_probs"]),
                                 ("attention", weights, case["attention"])):
        if not ok:
            break
        # Every step of every sentence, flattened (attention rows are as wide as each source).
        actual = np.concatenate([np.asarray(row, np.float64).ravel() for rs in mine for row in rs])
        expected = np.array([-np.inf if x is None else x
                             for rs in theirs for row in rs for x in row], np.float64)
        if actual.shape != expected.shape:
            print(f"FAIL {name} {output}: shape {actual.shape}, recur {expected.shape}")
            ok = False
            continue
        err = relative_error(actual, expected)
        report(err <= TOLERANCE, name, output, expected.shape, err)
        ok &= err <= TOLERANCE
    return ok


def check_case(path):
    case = json.load(open(path))
    if case.get("kind") == "translation":
        return check_translation(path, case)
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
        err = relative_error(actual, expected)
        report(err <= TOLERANCE, case["model"], want["name"], expected.shape, err)
        ok &= err <= TOLERANCE
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
