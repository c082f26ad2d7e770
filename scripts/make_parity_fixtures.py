#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures that `crates/recur/tests/parity.rs` checks recur against.

For every case: the module's weights under PyTorch's `state_dict` names, the input, lengths,
initial states, the outputs and final states, and the gradients of every parameter, the input and
the initial states for the loss  sum(W_out * output) + sum(W_h * h_n) [+ sum(W_c * c_n)], with a
fixed random weighting W. Ragged cases go through pack_padded_sequence, as users would.

Run (CPU; torch pinned so that the fixtures are reproducible):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch==2.15.0 numpy safetensors
    ~/torch-venv/bin/python scripts/make_parity_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

TORCH_VERSION = "2.15.0"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parity"

SMALL = dict(steps=5, batch=3, input=4, hidden=6)
SMALL_LENGTHS = [5, 2, 4]
LARGE = dict(steps=50, batch=8, input=32, hidden=128)
LARGE_LENGTHS = [50, 13, 50, 1, 37, 49, 25, 8]


def cases():
    cells = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]
    for cell, nl in cells:
        for layers in (1, 2):
            for bidirectional in (False, True):
                for ragged in (False, True):
                    for bias in (True, False):
                        yield dict(cell=cell, nonlinearity=nl or "tanh", layers=layers,
                                   bidirectional=bidirectional, bias=bias,
                                   ragged=SMALL_LENGTHS if ragged else None,
                                   batch_first=bias != bidirectional, **SMALL)
    for cell, nl in cells:
        yield dict(cell=cell, nonlinearity=nl or "tanh", layers=1, bidirectional=False,
                   ragged=LARGE_LENGTHS if cell == "lstm" else None, bias=True, batch_first=True,
                   **LARGE)
    yield dict(cell="lstm", nonlinearity="tanh", layers=2, bidirectional=True,
               ragged=LARGE_LENGTHS, bias=True, batch_first=False,
               **dict(LARGE, hidden=32, input=16))


def name_of(c):
    return (f"{c['cell']}{'_' + c['nonlinearity'] if c['cell'] == 'rnn' else ''}"
            f"_l{c['layers']}_{'bi' if c['bidirectional'] else 'uni'}"
            f"_{'ragged' if c['ragged'] else 'equal'}_{'bias' if c['bias'] else 'nobias'}"
            f"_h{c['hidden']}_t{c['steps']}")


def make(case, seed):
    torch.manual_seed(seed)
    kw = dict(input_size=case["input"], hidden_size=case["hidden"], num_layers=case["layers"],
              bias=case["bias"], batch_first=case["batch_first"],
              bidirectional=case["bidirectional"])
    if case["cell"] == "rnn":
        module = torch.nn.RNN(nonlinearity=case["nonlinearity"], **kw)
    elif case["cell"] == "lstm":
        module = torch.nn.LSTM(**kw)
    else:
        module = torch.nn.GRU(**kw)
    T, B = case["steps"], case["batch"]
    dirs = 2 if case["bidirectional"] else 1
    H = case["hidden"]
    x_shape = (B, T, case["input"]) if case["batch_first"] else (T, B, case["input"])
    x = torch.randn(x_shape, requires_grad=True)
    state = (case["layers"] * dirs, B, H)
    h0 = (0.5 * torch.randn(state)).requires_grad_()
    c0 = (0.5 * torch.randn(state)).requires_grad_() if case["cell"] == "lstm" else None
    lengths = case["ragged"] if case["ragged"] else [T] * B
    out_shape = (B, T, dirs * H) if case["batch_first"] else (T, B, dirs * H)
    w_out, w_h = torch.randn(out_shape), torch.randn(state)
    w_c = torch.randn(state) if c0 is not None else None

    hx = (h0, c0) if c0 is not None else h0
    if case["ragged"]:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=case["batch_first"], enforce_sorted=False)
        out, hn = module(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=case["batch_first"], total_length=T)
    else:
        out, hn = module(x, hx)
    h_n, c_n = (hn if c0 is not None else (hn, None))
    loss = (out * w_out).sum() + (h_n * w_h).sum()
    if c_n is not None:
        loss = loss + (c_n * w_c).sum()
    loss.backward()

    t = {}
    for name, p in module.state_dict().items():
        t[name] = p
    for name, p in module.named_parameters():
        t["grad." + name] = p.grad
    t.update({"input": x, "h0": h0, "w_output": w_out, "w_h_n": w_h, "output": out, "h_n": h_n,
              "grad.input": x.grad, "grad.h0": h0.grad})
    if c0 is not None:
        t.update({"c0": c0, "w_c_n": w_c, "c_n": c_n, "grad.c0": c0.grad})
    return {k: v.detach().contiguous().float() for k, v in t.items()}, lengths


def main():
    assert torch.__version__.split("+")[0] == TORCH_VERSION, (
        f"fixtures are pinned to torch {TORCH_VERSION}, found {torch.__version__}")
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for seed, case in enumerate(cases()):
        name = name_of(case)
        tensors, lengths = make(case, seed)
        save_file(tensors, str(OUT / f"{name}.safetensors"))
        entry = {k: v for k, v in case.items() if k != "ragged"}
        entry.update(name=name, lengths=lengths if case["ragged"] else None)
        manifest.append(entry)
    (OUT / "cases.json").write_text(json.dumps(
        {"torch": torch.__version__, "cases": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} cases to {OUT}")


if __name__ == "__main__":
    main()
