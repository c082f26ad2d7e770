#!/usr/bin/env python3
"""PyTorch twin of `recur bench`: the same character model on the same kind of synthetic data.

Embedding -> nn.RNN/LSTM/GRU (batch_first) -> Linear; CrossEntropyLoss; Adam lr 2e-3;
clip_grad_norm_ 5; torch.set_num_threads equal to recur's; generation one token at a time at
batch 1 in inference mode, sampling from the softmax. Prints one JSON object with the keys of
`recur bench --json`. Medians of repeated measurements after warm-up.

    ~/torch-venv/bin/python bench/torch_charrnn.py --cell lstm --embed 64 --hidden 128 --layers 1 \
        --batch-size 32 --seq-len 64 --threads 2
"""
import argparse
import json
import resource
import statistics
import time

import torch

VOCAB = 65


class CharRNN(torch.nn.Module):
    def __init__(self, cell, embed, hidden, layers):
        super().__init__()
        self.embed_dim = embed
        if embed > 0:
            self.embedding = torch.nn.Embedding(VOCAB, embed)
        inp = embed if embed > 0 else VOCAB
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.rnn = cls(inp, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, VOCAB)

    def forward(self, x, state=None):
        inp = self.embedding(x) if self.embed_dim > 0 else torch.nn.functional.one_hot(x, VOCAB).float()
        out, state = self.rnn(inp, state)
        return self.head(out), state


def flops_per_token(cell, embed, hidden, layers):
    g = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    fwd = 2 * hidden * VOCAB
    for layer in range(layers):
        inp = (embed if embed > 0 else VOCAB) if layer == 0 else hidden
        fwd += 2 * g * hidden * (inp + hidden)
    return 3 * fwd


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--generate-tokens", type=int, default=200)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = CharRNN(a.cell, a.embed, a.hidden, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    B, T = a.batch_size, a.seq_len
    n = B * T

    def batch():
        tokens = torch.randint(0, VOCAB, (B, T + 1))
        return tokens[:, :-1], tokens[:, 1:]

    # Training: forward, loss, backward, clip, Adam step; state carried and detached.
    model.train()
    state, times = None, []
    for rep in range(a.warmup + a.reps):
        x, y = batch()
        start = time.perf_counter()
        logits, state = model(x, state)
        state = detach(state)
        loss = loss_fn(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if rep >= a.warmup:
            times.append(time.perf_counter() - start)
    train = n / statistics.median(times)

    # Forward only, with the loss.
    model.eval()
    times = []
    with torch.inference_mode():
        for rep in range(a.warmup + a.reps):
            x, y = batch()
            start = time.perf_counter()
            logits, _ = model(x)
            loss_fn(logits.reshape(-1, VOCAB), y.reshape(-1))
            if rep >= a.warmup:
                times.append(time.perf_counter() - start)
    forward = n / statistics.median(times)

    # Generation at batch 1, one token at a time, sampling from the softmax.
    times = []
    with torch.inference_mode():
        token, state = torch.zeros(1, 1, dtype=torch.long), None
        for rep in range(a.warmup + a.reps):
            start = time.perf_counter()
            for _ in range(a.generate_tokens):
                logits, state = model(token, state)
                probs = torch.softmax(logits[0, -1], dim=-1)
                token = torch.multinomial(probs, 1).view(1, 1)
            if rep >= a.warmup:
                times.append(time.perf_counter() - start)
    generate = a.generate_tokens / statistics.median(times)

    print(json.dumps({
        "train_tokens_per_s": train,
        "forward_tokens_per_s": forward,
        "generate_tokens_per_s": generate,
        "train_gflops": train * flops_per_token(a.cell, a.embed, a.hidden, a.layers) / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
