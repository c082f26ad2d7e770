"""Writes the pytest suite's parity fixtures (tests/fixtures/*.npz) from PyTorch.

Run with torch 2.15.0 (the fixtures committed were written with it):
    /root/torch-venv/bin/python crates/recur-py/scripts/make_fixtures.py
Each fixture holds a module's constructor arguments (``config``, JSON), its ``state_dict``
(``param.<name>``), the inputs (``x``, optional ``h0``, ``c0``, ``lengths``) and PyTorch's
outputs (``output``, ``h_n``, optional ``c_n``). With lengths, ``output`` is
``pad_packed_sequence(..., total_length=T)``, zero past each sequence's end.
"""

import json
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"

CASES = [
    # name, class, kwargs, (T, B), lengths, initial state, dtype
    ("lstm_1layer", "LSTM", {}, (6, 3), None, False, torch.float32),
    ("lstm_2layer_bidir_lengths", "LSTM", {"num_layers": 2, "bidirectional": True}, (7, 4), [7, 3, 5, 1], True, torch.float32),
    ("lstm_batch_first_f64", "LSTM", {"batch_first": True, "num_layers": 2}, (5, 2), None, True, torch.float64),
    ("gru_2layer_bidir", "GRU", {"num_layers": 2, "bidirectional": True}, (6, 3), None, True, torch.float32),
    ("gru_lengths_batch_first", "GRU", {"batch_first": True}, (6, 3), [2, 6, 4], False, torch.float32),
    ("gru_no_bias_f64", "GRU", {"bias": False}, (4, 2), None, False, torch.float64),
    ("rnn_tanh_2layer", "RNN", {"num_layers": 2}, (6, 3), None, True, torch.float32),
    ("rnn_relu_bidir_lengths", "RNN", {"nonlinearity": "relu", "bidirectional": True}, (5, 3), [5, 2, 3], False, torch.float32),
]

INPUT, HIDDEN = 3, 5


def run(module, x, lengths, hx, batch_first):
    if lengths is None:
        return module(x, hx)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
    )
    out, state = module(packed, hx)
    steps = x.shape[1] if batch_first else x.shape[0]
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=steps)
    return out, state


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(18)
    for name, cls, kwargs, (steps, batch), lengths, with_state, dtype in CASES:
        module = getattr(torch.nn, cls)(INPUT, HIDDEN, **kwargs).to(dtype).eval()
        batch_first = kwargs.get("batch_first", False)
        shape = (batch, steps, INPUT) if batch_first else (steps, batch, INPUT)
        x = torch.randn(*shape, dtype=dtype)
        dirs = 2 if kwargs.get("bidirectional") else 1
        state_shape = (kwargs.get("num_layers", 1) * dirs, batch, HIDDEN)
        arrays = {"x": x.numpy()}
        hx = None
        if with_state:
            h0 = torch.randn(*state_shape, dtype=dtype)
            arrays["h0"] = h0.numpy()
            hx = h0
            if cls == "LSTM":
                c0 = torch.randn(*state_shape, dtype=dtype)
                arrays["c0"] = c0.numpy()
                hx = (h0, c0)
        if lengths is not None:
            arrays["lengths"] = np.array(lengths, dtype=np.int64)
        with torch.no_grad():
            out, state = run(module, x, lengths, hx, batch_first)
        arrays["output"] = out.numpy()
        if cls == "LSTM":
            arrays["h_n"], arrays["c_n"] = state[0].numpy(), state[1].numpy()
        else:
            arrays["h_n"] = state.numpy()
        for k, v in module.state_dict().items():
            arrays["param." + k] = v.numpy()
        config = {"mode": cls, "input_size": INPUT, "hidden_size": HIDDEN, **kwargs,
                  "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__}
        arrays["config"] = np.array(json.dumps(config))
        np.savez(OUT / f"{name}.npz", **arrays)
        print(f"{name}: output {tuple(out.shape)}")


if __name__ == "__main__":
    main()
