#!/usr/bin/env python3
"""recur from Python against PyTorch, in one script (issue 18's Python bars).

1. A 2-layer nn.LSTM(256, 512) and recur.LSTM with the same state dict on the same NumPy input:
   prints the largest difference relative to the largest output (bar: <= 1e-5).
2. Generation of 1,000 characters, one at a time at batch 1 sampling from the softmax, from a
   character model (embedding -> LSTM -> linear, PyTorch's twin in bench/torch_charrnn.py) and
   from the same weights loaded by recur (`recur.load`, `CharLM.sample`), both timed from Python
   with the same thread count: prints the ratio (bar: >= 10x).

Needs torch and the recur package in one environment, e.g.
    /root/torch-venv/bin/pip install ./crates/recur-py
    /root/torch-venv/bin/python bench/py_bench.py --threads 2
Timings mean little while other programs load the machine: the load average is printed.
"""

import argparse
import json
import os
import statistics
import struct
import tempfile
import time

import numpy as np
import torch

import recur


def forward_parity():
    torch.manual_seed(0)
    ref = torch.nn.LSTM(256, 512, num_layers=2).eval()
    ours = recur.LSTM(256, 512, num_layers=2)
    ours.load_state_dict(ref.state_dict())  # torch tensors, through __array__
    x = np.random.default_rng(0).standard_normal((50, 16, 256)).astype(np.float32)
    with torch.no_grad():
        want, (h_want, c_want) = ref(torch.from_numpy(x))
    got, (h_got, c_got) = ours(x)
    worst = 0.0
    for name, a, b in (("output", got, want), ("h_n", h_got, h_want), ("c_n", c_got, c_want)):
        b = b.numpy()
        rel = float(np.abs(a - b).max() / np.abs(b).max())
        worst = max(worst, rel)
        print(f"forward {name} {tuple(a.shape)}: max |recur - torch| / max |torch| = {rel:.2e}")
    print(f"forward parity (bar <= 1e-5): {'PASS' if worst <= 1e-5 else 'FAIL'} ({worst:.2e})")
    return worst


class CharRNN(torch.nn.Module):
    """The checkpoint contract's PyTorch module: embedding, LSTM (batch_first), head."""

    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.rnn = torch.nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)
        return self.head(out), state


def write_checkpoint(model, vocab, args, directory):
    """config.json and model.safetensors (written by hand: header length, JSON header, data)."""
    tensors = {k: v.detach().numpy().astype("<f4") for k, v in model.state_dict().items()}
    header, offset = {}, 0
    for k, v in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + v.nbytes]}
        offset += v.nbytes
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for v in tensors.values():
            f.write(v.tobytes())
    config = {
        "format": "recur", "version": 1, "task": "char-lm", "vocab": vocab,
        "model": {"cell": "lstm", "vocab_size": len(vocab), "embed_dim": args.embed,
                  "hidden_size": args.hidden, "num_layers": args.layers, "dropout": 0.0, "bias": True},
    }
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)


def torch_generate(model, length, seed):
    torch.manual_seed(seed)
    chars = []
    with torch.inference_mode():
        token, state = torch.zeros(1, 1, dtype=torch.long), None
        for _ in range(length):
            logits, state = model(token, state)
            probs = torch.softmax(logits[0, -1], dim=-1)
            token = torch.multinomial(probs, 1).view(1, 1)
            chars.append(int(token))
    return chars


def median_seconds(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation(args):
    vocab = [chr(c) for c in range(32, 32 + args.vocab - 1)] + ["\n"]
    torch.manual_seed(1)
    model = CharRNN(len(vocab), args.embed, args.hidden, args.layers).eval()
    with tempfile.TemporaryDirectory() as tmp:
        write_checkpoint(model, vocab, args, tmp)
        lm = recur.load(tmp)
    ours = median_seconds(lambda: lm.sample(args.length, prime=vocab[0], seed=1), args.reps)
    theirs = median_seconds(lambda: torch_generate(model, args.length, 1), args.reps)
    print(f"generate {args.length} characters, LSTM (embed {args.embed}, hidden {args.hidden}, "
          f"{args.layers} layers), vocabulary {len(vocab)}: recur {ours * 1e3:.1f} ms, "
          f"PyTorch {theirs * 1e3:.1f} ms (medians of {args.reps})")
    ratio = theirs / ours
    print(f"generation ratio (bar >= 10x): {ratio:.1f}x {'PASS' if ratio >= 10 else 'FAIL'}")
    return ratio


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--length", type=int, default=1000)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    recur.set_num_threads(args.threads)
    print(f"threads {args.threads}, torch {torch.__version__}, recur {recur.__version__}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    worst = forward_parity()
    ratio = generation(args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    raise SystemExit(0 if worst <= 1e-5 and ratio >= 10 else 1)


if __name__ == "__main__":
    main()
