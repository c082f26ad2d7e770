#!/usr/bin/env python3
"""PyTorch twin of `crates/recur/examples/layer_timing.rs`: one nn.RNN/LSTM/GRU layer,
forward + backward over a whole batch-first sequence, median of repeated runs, printed as JSON.

    ~/torch-venv/bin/python bench/torch_layer.py --cell lstm --hidden 512 --threads 2
"""
import argparse
import json
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--input", type=int, default=512)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[a.cell]
    layer = cls(a.input, a.hidden, batch_first=True)
    x = torch.rand(a.batch, a.steps, a.input) * 2 - 1
    d_out = torch.full((a.batch, a.steps, a.hidden), 1e-3)
    times = []
    for rep in range(a.reps + 3):
        start = time.perf_counter()
        out, _ = layer(x)
        out.backward(d_out)
        if rep >= 3:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[a.cell]
    flops = 6.0 * a.steps * a.batch * gates * a.hidden * (a.input + a.hidden)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "cell": a.cell, "threads": a.threads,
                      "ms": round(median * 1e3, 3),
                      "tokens_per_s": round(a.steps * a.batch / median),
                      "gflops": round(flops / median / 1e9, 1)}))


if __name__ == "__main__":
    main()
