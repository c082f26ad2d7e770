#!/usr/bin/env python3
"""Writes the char-LM interop fixtures under tests/fixtures/charlm/ with PyTorch (torch 2.15.0).

The model is the DESIGN contract's module: Embedding(V, E) (absent when E = 0: one-hot input)
-> nn.RNN/LSTM/GRU(batch_first=True) -> Linear(H, V). Batching is the contract's stateful layout
(B contiguous streams, state carried and detached between steps); evaluation is the contract's
exact mean of -ln p(x_i | x_<i) from a zero state.

Outputs:
  torch_<cell>_<input>/       PyTorch-trained checkpoints (config.json + model.safetensors) and
                              expected.json with PyTorch's eval figures on eval.txt
  steps/                      one SGD step and two Adam steps from torch_lstm_embed, with the
                              updated weights PyTorch computed
  short_run/                  initial weights and PyTorch's validation loss after a 300-step run
  recur_in_torch.json         a checkpoint written by recur, loaded with load_state_dict(strict=True)
                              and evaluated by PyTorch, next to recur's own figures

Run scripts/make_charlm_fixtures.sh (it trains the recur checkpoint first, then calls this).
"""
import json
import math
import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file

TORCH_VERSION = "2.15.0"
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "charlm"
BOOK = (ROOT / "data" / "moby_dick.txt").read_text(encoding="utf-8")


class CharLM(torch.nn.Module):
    def __init__(self, cell, vocab_size, embed_dim, hidden, layers, nonlinearity="tanh", dropout=0.0):
        super().__init__()
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        if embed_dim > 0:
            self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        inp = embed_dim if embed_dim > 0 else vocab_size
        kw = dict(batch_first=True, dropout=dropout)
        if cell == "rnn":
            self.rnn = torch.nn.RNN(inp, hidden, layers, nonlinearity=nonlinearity, **kw)
        elif cell == "lstm":
            self.rnn = torch.nn.LSTM(inp, hidden, layers, **kw)
        else:
            self.rnn = torch.nn.GRU(inp, hidden, layers, **kw)
        self.head = torch.nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        if self.embed_dim > 0:
            inp = self.embedding(x)
        else:
            inp = torch.nn.functional.one_hot(x, self.vocab_size).float()
        out, state = self.rnn(inp, state)
        return self.head(out), state


def config_json(cell, vocab, embed, hidden, layers, nonlinearity="tanh", dropout=0.0):
    model = dict(cell=cell, vocab_size=len(vocab), embed_dim=embed, hidden_size=hidden,
                 num_layers=layers, dropout=dropout, bias=True)
    if cell == "rnn":
        model["nonlinearity"] = nonlinearity
    return dict(format="recur", version=1, task="char-lm", model=model, vocab=list(vocab))


def save_checkpoint(path, model, config):
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_checkpoint(path):
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    m = config["model"]
    model = CharLM(m["cell"], m["vocab_size"], m["embed_dim"], m["hidden_size"], m["num_layers"],
                   m.get("nonlinearity", "tanh"), m["dropout"])
    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    return model, config


@torch.no_grad()
def evaluate(model, ids):
    """The contract: exact mean NLL over positions 1.. from a zero state at x_0."""
    model.eval()
    x = torch.tensor(ids[:-1]).unsqueeze(0)
    y = torch.tensor(ids[1:])
    logits, _ = model(x)
    logits = logits[0]
    loss = torch.nn.functional.cross_entropy(logits.double(), y, reduction="sum").item() / len(y)
    acc = (logits.argmax(-1) == y).double().mean().item()
    return dict(loss=loss, bpc=loss / math.log(2), perplexity=math.exp(loss), accuracy=acc, tokens=len(y))


def batches(ids, B, T):
    """The contract's stateful layout: B contiguous streams, step k = tokens [kT, (k+1)T)."""
    S = (len(ids) - 1) // B
    data = torch.tensor(ids)
    k = 0
    while (k + 1) * T <= S:
        x = torch.stack([data[b * S + k * T: b * S + k * T + T] for b in range(B)])
        y = torch.stack([data[b * S + k * T + 1: b * S + k * T + T + 1] for b in range(B)])
        yield x, y
        k += 1


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def train(model, ids, steps, B, T, opt, clip):
    model.train()
    state, step = None, 0
    while step < steps:
        state = None  # reset at every epoch
        for x, y in batches(ids, B, T):
            logits, state = model(x, state)
            state = detach(state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            if step == steps:
                break
    return loss.item()


def main():
    assert torch.__version__.split("+")[0] == TORCH_VERSION, torch.__version__
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    train_text, eval_text = BOOK[:20000], BOOK[20000:26000]
    vocab = sorted(set(train_text + eval_text))
    index = {c: i for i, c in enumerate(vocab)}
    enc = lambda s: [index[c] for c in s]
    (OUT / "train.txt").write_text(train_text, encoding="utf-8")
    (OUT / "eval.txt").write_text(eval_text, encoding="utf-8")

    # 1. PyTorch-trained models of every cell, one-hot and embedded input.
    for seed, (cell, embed) in enumerate([(c, e) for c in ("rnn", "lstm", "gru") for e in (0, 16)]):
        torch.manual_seed(seed)
        model = CharLM(cell, len(vocab), embed, 32, 2)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        train(model, enc(train_text), 60, 8, 32, opt, 1.0)
        name = f"torch_{cell}_{'embed' if embed else 'onehot'}"
        save_checkpoint(OUT / name, model, config_json(cell, vocab, embed, 32, 2))
        (OUT / name / "expected.json").write_text(json.dumps(evaluate(model, enc(eval_text))) + "\n")

    # 2. Optimiser steps from a fixed checkpoint: one SGD step (clip 1), two Adam steps (clip 1).
    steps_dir = OUT / "steps"
    start, config = load_checkpoint(OUT / "torch_lstm_embed")
    save_checkpoint(steps_dir / "start", start, config)
    for name, make, n in [("sgd", lambda p: torch.optim.SGD(p, lr=0.5), 1),
                          ("adam", lambda p: torch.optim.Adam(p, lr=1e-2), 2)]:
        model, _ = load_checkpoint(OUT / "torch_lstm_embed")
        loss = train(model, enc(train_text), n, 4, 16, make(model.parameters()), 1.0)
        save_checkpoint(steps_dir / name, model, config)
        (steps_dir / name / "loss.json").write_text(json.dumps({"last_loss": loss}) + "\n")

    # 3. A short run: the same initial weights and data order; recur must end within 0.03.
    short = OUT / "short_run"
    book = BOOK[:120000]
    short_vocab = sorted(set(book))
    short_index = {c: i for i, c in enumerate(short_vocab)}
    ids = [short_index[c] for c in book]
    n_val = round(len(ids) * 0.1)
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    torch.manual_seed(7)
    model = CharLM("lstm", len(short_vocab), 16, 64, 1)
    save_checkpoint(short / "init", model, config_json("lstm", short_vocab, 16, 64, 1))
    (short / "text.txt").write_text(book, encoding="utf-8")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    train(model, train_ids, 300, 16, 32, opt, 1.0)
    result = evaluate(model, val_ids)
    (short / "torch_result.json").write_text(json.dumps(
        {"steps": 300, "batch_size": 16, "seq_len": 32, "optimizer": "adam", "lr": 3e-3, "clip": 1.0,
         "val_frac": 0.1, "val_loss": result["loss"]}) + "\n")

    # 4. A checkpoint written by recur, in PyTorch.
    recur_dir = OUT / "recur_model"
    if (recur_dir / "model.safetensors").exists():
        model, config = load_checkpoint(recur_dir)
        index = {c: i for i, c in enumerate(config["vocab"])}
        theirs = evaluate(model, [index[c] for c in eval_text])
        ours = json.loads((recur_dir / "recur_eval.json").read_text())
        record = {"torch": torch.__version__, "load_state_dict_strict": True,
                  "torch_eval": theirs, "recur_eval": ours,
                  "loss_rel_diff": abs(theirs["loss"] - ours["loss"]) / ours["loss"]}
        (OUT / "recur_in_torch.json").write_text(json.dumps(record, indent=1) + "\n")
        print("recur checkpoint in PyTorch:", json.dumps(record))
        assert record["loss_rel_diff"] < 1e-4, record
    else:
        print("no recur_model yet: run scripts/make_charlm_fixtures.sh", file=sys.stderr)
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
