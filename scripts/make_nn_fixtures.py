#!/usr/bin/env python3
"""Writes the PyTorch fixtures that `crates/recur/tests/nn_parity.rs` checks recur's blocks
(`recur::nn`) and losses against: inputs, parameters, outputs and the gradients autograd gives
for the loss sum(W * output) (or the loss itself), as f32 safetensors.

Run (CPU; torch pinned so that the fixtures are reproducible):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch==2.15.0 numpy safetensors
    ~/torch-venv/bin/python scripts/make_nn_fixtures.py
"""
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

TORCH_VERSION = "2.15.0"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nn"


def f32(d):
    return {k: v.detach().to(torch.float32).contiguous() for k, v in d.items()}


def linear(bias):
    lin = torch.nn.Linear(5, 3, bias=bias).double()
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, dtype=torch.float64)
    y = lin(x)
    (y * w).sum().backward()
    d = {"x": x, "weight": lin.weight, "w": w, "y": y, "dx": x.grad, "dweight": lin.weight.grad}
    if bias:
        d.update(bias=lin.bias, dbias=lin.bias.grad)
    return d


def embedding():
    emb = torch.nn.Embedding(7, 4, padding_idx=2).double()
    ids = torch.tensor([3, 2, 6, 3, 0, 2])
    w = torch.randn(6, 4, dtype=torch.float64)
    y = emb(ids)
    (y * w).sum().backward()
    return {"ids": ids.double(), "weight": emb.weight, "w": w, "y": y, "dweight": emb.weight.grad}


def cross_entropy(ignore_index, label_smoothing):
    logits = (3 * torch.randn(8, 6, dtype=torch.float64)).requires_grad_()
    targets = torch.tensor([0, 5, 2, 2, 1, 5, 3, 4])
    kw = dict(label_smoothing=label_smoothing)
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    loss = F.cross_entropy(logits, targets, **kw)
    loss.backward()
    return {"logits": logits, "targets": targets.double(), "loss": loss.reshape(1),
            "dlogits": logits.grad}


def mse():
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    y = torch.randn(10, dtype=torch.float64)
    loss = F.mse_loss(x, y)
    loss.backward()
    return {"x": x, "target": y, "loss": loss.reshape(1), "dx": x.grad}


def gaussian_nll(full):
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    y = torch.randn(10, dtype=torch.float64)
    var = (torch.rand(10, dtype=torch.float64) + 0.05)
    var[3] = 1e-9  # below eps: clamped, the gradient passes through
    var.requires_grad_()
    loss = F.gaussian_nll_loss(x, y, var, full=full, eps=1e-6)
    loss.backward()
    return {"x": x, "target": y, "var": var, "loss": loss.reshape(1), "dx": x.grad,
            "dvar": var.grad}


def pooling(kind, directions):
    steps, batch, hidden = 5, 4, 3
    width = directions * hidden
    lengths = torch.tensor([5, 2, 4, 1])
    out = torch.randn(steps, batch, width, dtype=torch.float64, requires_grad=True)
    valid = (torch.arange(steps)[:, None] < lengths[None, :])[:, :, None]  # [T, B, 1]
    if kind == "mean":
        feat = (out * valid).sum(0) / lengths[:, None]
    elif kind == "max":
        feat = out.masked_fill(~valid, float("-inf")).max(0).values
    else:
        fwd = out[lengths - 1, torch.arange(batch), :hidden]
        feat = fwd if directions == 1 else torch.cat([fwd, out[0, :, hidden:]], 1)
    w = torch.randn(batch, width, dtype=torch.float64)
    (feat * w).sum().backward()
    return {"out": out, "lengths": lengths.double(), "w": w, "features": feat,
            "dout": out.grad}


class Attention(torch.nn.Module):
    """Luong (dot, general) or Bahdanau (additive) attention over time-major keys, masked past
    each sequence's length, as `recur::nn::Attention`."""

    def __init__(self, score, query_size, key_size, attention_size):
        super().__init__()
        self.score = score
        if score == "general":
            self.linear_in = torch.nn.Linear(query_size, key_size, bias=False)
        if score == "additive":  # PyTorch's seq2seq tutorial's BahdanauAttention
            self.Wa = torch.nn.Linear(query_size, attention_size)
            self.Ua = torch.nn.Linear(key_size, attention_size)
            self.Va = torch.nn.Linear(attention_size, 1)

    def forward(self, query, keys, lengths):  # [T, B, Q], [S, B, K], [B]
        if self.score == "additive":
            e = torch.tanh(self.Wa(query).permute(1, 0, 2)[:, :, None]
                           + self.Ua(keys).permute(1, 0, 2)[:, None])  # [B, T, S, A]
            scores = self.Va(e).squeeze(-1)
        else:
            q = self.linear_in(query) if self.score == "general" else query
            scores = torch.einsum("tbk,sbk->bts", q, keys)
        mask = torch.arange(keys.shape[0])[None, None, :] >= lengths[:, None, None]
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        return torch.einsum("bts,sbk->tbk", weights, keys), weights


def attention(score):
    steps, src, batch, key_size = 4, 6, 3, 5
    query_size = key_size if score == "dot" else 7
    block = Attention(score, query_size, key_size, 8).double()
    query = torch.randn(steps, batch, query_size, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(src, batch, key_size, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    context, weights = block(query, keys, lengths)
    w = torch.randn(steps, batch, key_size, dtype=torch.float64)
    (context * w).sum().backward()
    d = {"query": query, "keys": keys, "lengths": lengths.double(), "w": w, "context": context,
         "weights": weights, "dquery": query.grad, "dkeys": keys.grad}
    for name, p in block.named_parameters():
        d[name] = p
        d["d" + name] = p.grad
    return d


def main():
    assert torch.__version__.split("+")[0] == TORCH_VERSION, torch.__version__
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cases = {
        "linear": linear(True),
        "linear_nobias": linear(False),
        "embedding_padding": embedding(),
        "cross_entropy": cross_entropy(None, 0.0),
        "cross_entropy_ignore": cross_entropy(5, 0.0),
        "cross_entropy_smoothing": cross_entropy(None, 0.1),
        "cross_entropy_ignore_smoothing": cross_entropy(2, 0.2),
        "mse": mse(),
        "gaussian_nll": gaussian_nll(False),
        "gaussian_nll_full": gaussian_nll(True),
    }
    for kind in ("last", "mean", "max"):
        for directions in (1, 2):
            cases[f"pooling_{kind}_d{directions}"] = pooling(kind, directions)
    for score in ("dot", "general", "additive"):
        cases[f"attention_{score}"] = attention(score)
    for name, tensors in cases.items():
        save_file(f32(tensors), OUT / f"{name}.safetensors")
    print(f"wrote {len(cases)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
