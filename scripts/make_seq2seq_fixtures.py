#!/usr/bin/env python3
"""Writes the PyTorch fixtures that `crates/recur/tests/seq2seq.rs` checks recur's encoder-decoder
(`recur::seq2seq::Seq2Seq`) against: the parameters under their PyTorch names, a padded batch, the
logits, the loss (cross-entropy, padding ignored, label smoothing 0.1) and autograd's gradient of
every parameter, as f32 safetensors.

Run (CPU; torch pinned so that the fixtures are reproducible):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch==2.15.0 numpy safetensors
    ~/torch-venv/bin/python scripts/make_seq2seq_fixtures.py
"""
import pathlib
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_nn_fixtures import Attention  # noqa: E402  the same block as recur::nn::Attention

TORCH_VERSION = "2.15.0"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "seq2seq"


class Seq2Seq(torch.nn.Module):
    """recur::seq2seq::Seq2Seq: bidirectional encoder, decoder started from both directions'
    final states side by side, attention, Luong's tanh(W_c [c; h]), generator."""

    def __init__(self, cell, src_vocab, tgt_vocab, embed, hidden, layers, score):
        super().__init__()
        rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
        self.src_embedding = torch.nn.Embedding(src_vocab, embed, padding_idx=0)
        self.encoder = rnn(embed, hidden // 2, layers, bidirectional=True)
        self.tgt_embedding = torch.nn.Embedding(tgt_vocab, embed, padding_idx=0)
        self.decoder = rnn(embed, hidden, layers)
        self.attention = Attention(score, hidden, hidden, hidden)
        self.combine = torch.nn.Linear(2 * hidden, hidden, bias=False)
        self.generator = torch.nn.Linear(hidden, tgt_vocab)
        self.layers, self.hidden = layers, hidden

    def bridge(self, state):  # [2L, B, H/2] -> [L, B, H]
        b = state.shape[1]
        return state.view(self.layers, 2, b, self.hidden // 2).permute(0, 2, 1, 3).reshape(
            self.layers, b, self.hidden)

    def forward(self, src, src_len, tgt_in, tgt_len):
        packed = pack_padded_sequence(self.src_embedding(src), src_len, enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, total_length=src.shape[0])
        state = tuple(map(self.bridge, state)) if isinstance(state, tuple) else self.bridge(state)
        packed = pack_padded_sequence(self.tgt_embedding(tgt_in), tgt_len, enforce_sorted=False)
        out, _ = self.decoder(packed, state)
        dec, _ = pad_packed_sequence(out, total_length=tgt_in.shape[0])
        context, _ = self.attention(dec, enc, src_len)
        return self.generator(torch.tanh(self.combine(torch.cat([context, dec], -1))))


def pad(seqs, length):
    return torch.tensor([s + [0] * (length - len(s)) for s in seqs]).T  # [T, B]


def case(cell, score):
    pairs = [([3, 4, 5, 6, 7], [3, 4]), ([2, 9], [5, 4, 3, 8, 2]), ([5], [4]), ([10, 3, 3], [6, 7, 1])]
    bos, eos = 1, 2
    model = Seq2Seq(cell, 11, 9, 5, 6, 2, score).double()
    src = pad([s for s, _ in pairs], 5)
    tgt_in = pad([[bos] + t for _, t in pairs], 6)
    tgt_out = pad([t + [eos] for _, t in pairs], 6)
    src_len = torch.tensor([len(s) for s, _ in pairs])
    tgt_len = torch.tensor([len(t) + 1 for _, t in pairs])
    logits = model(src, src_len, tgt_in, tgt_len)
    loss = F.cross_entropy(logits.reshape(-1, 9), tgt_out.reshape(-1), ignore_index=0,
                           label_smoothing=0.1)
    loss.backward()
    d = {"src": src.double(), "src_lengths": src_len.double(), "tgt_in": tgt_in.double(),
         "tgt_out": tgt_out.double(), "tgt_lengths": tgt_len.double(), "logits": logits,
         "loss": loss.reshape(1)}
    for name, p in model.named_parameters():
        d[name] = p
        d["grad." + name] = p.grad
    return {k: v.detach().to(torch.float32).contiguous() for k, v in d.items()}


def main():
    assert torch.__version__.split("+")[0] == TORCH_VERSION, torch.__version__
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cases = {"gru_general": ("gru", "general"), "lstm_additive": ("lstm", "additive"),
             "gru_dot": ("gru", "dot")}
    for name, (cell, score) in cases.items():
        save_file(case(cell, score), OUT / f"{name}.safetensors")
    print(f"wrote {len(cases)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
