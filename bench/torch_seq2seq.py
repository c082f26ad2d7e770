#!/usr/bin/env python3
"""PyTorch twin of `recur translate bench`: the same encoder-decoder with attention
(`recur::seq2seq::Seq2Seq`) on the same kind of synthetic data.

Embedding -> bidirectional nn.GRU/LSTM encoder (packed) -> decoder nn.GRU/LSTM started from both
directions' final states side by side -> attention (Luong dot/general or Bahdanau additive,
padding masked) -> tanh(W_c [c; h]) -> Linear; CrossEntropyLoss(ignore_index=0,
label_smoothing=0.1); Adam lr 1e-3; clip_grad_norm_ 1; torch.set_num_threads equal to recur's.
Translation: batched beam search, one decoder step at a time (nn.GRU/LSTM on one step, state
reordered with index_select), exactly --decode-steps steps. Prints one JSON object with the keys
of `recur translate bench --json`. Medians of repeated measurements after warm-up.

    ~/torch-venv/bin/python bench/torch_seq2seq.py --cell gru --embed 256 --hidden 512 \
        --batch-size 64 --src-len 14 --tgt-len 14 --beam 5 --threads 2
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Attention(torch.nn.Module):
    def __init__(self, score, size):
        super().__init__()
        self.score = score
        if score == "general":
            self.linear_in = torch.nn.Linear(size, size, bias=False)
        if score == "additive":
            self.Wa = torch.nn.Linear(size, size)
            self.Ua = torch.nn.Linear(size, size)
            self.Va = torch.nn.Linear(size, 1)

    def forward(self, query, keys, lengths):  # [T, B, H], [S, B, H], [B]
        if self.score == "additive":
            e = torch.tanh(self.Wa(query).permute(1, 0, 2)[:, :, None]
                           + self.Ua(keys).permute(1, 0, 2)[:, None])
            scores = self.Va(e).squeeze(-1)
        else:
            q = self.linear_in(query) if self.score == "general" else query
            scores = torch.einsum("tbk,sbk->bts", q, keys)
        mask = torch.arange(keys.shape[0])[None, None, :] >= lengths[:, None, None]
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        return torch.einsum("bts,sbk->tbk", weights, keys)


class Seq2Seq(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[a.cell]
        self.src_embedding = torch.nn.Embedding(a.src_vocab, a.embed, padding_idx=0)
        self.encoder = rnn(a.embed, a.hidden // 2, a.layers, bidirectional=True)
        self.tgt_embedding = torch.nn.Embedding(a.tgt_vocab, a.embed, padding_idx=0)
        self.decoder = rnn(a.embed, a.hidden, a.layers)
        self.attention = Attention(a.attention, a.hidden)
        self.combine = torch.nn.Linear(2 * a.hidden, a.hidden, bias=False)
        self.generator = torch.nn.Linear(a.hidden, a.tgt_vocab)
        self.layers, self.hidden = a.layers, a.hidden

    def bridge(self, state):
        b = state.shape[1]
        return state.view(self.layers, 2, b, self.hidden // 2).permute(0, 2, 1, 3).reshape(
            self.layers, b, self.hidden)

    def encode(self, src, src_len):
        packed = pack_padded_sequence(self.src_embedding(src), src_len, enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, total_length=src.shape[0])
        state = tuple(map(self.bridge, state)) if isinstance(state, tuple) else self.bridge(state)
        return enc, state

    def output(self, dec, enc, src_len):
        context = self.attention(dec, enc, src_len)
        return self.generator(torch.tanh(self.combine(torch.cat([context, dec], -1))))

    def forward(self, src, src_len, tgt_in, tgt_len):
        enc, state = self.encode(src, src_len)
        packed = pack_padded_sequence(self.tgt_embedding(tgt_in), tgt_len, enforce_sorted=False)
        out, _ = self.decoder(packed, state)
        dec, _ = pad_packed_sequence(out, total_length=tgt_in.shape[0])
        return self.output(dec, enc, src_len)

    @torch.inference_mode()
    def beam_search(self, src, src_len, beam, steps, bos=1):
        b = src.shape[1]
        enc, state = self.encode(src, src_len)
        rep = lambda t, dim: t.repeat_interleave(beam, dim=dim)  # noqa: E731
        enc, lengths = rep(enc, 1), rep(src_len, 0)
        state = tuple(rep(s, 1) for s in state) if isinstance(state, tuple) else rep(state, 1)
        scores = torch.full((b, beam), float("-inf"))
        scores[:, 0] = 0.0
        prev = torch.full((b * beam,), bos, dtype=torch.long)
        history = []
        for _ in range(steps):
            out, state = self.decoder(self.tgt_embedding(prev)[None], state)
            logp = torch.log_softmax(self.output(out, enc, lengths)[0], -1)
            logp[:, 0] = float("-inf")
            logp[:, bos] = float("-inf")
            v = logp.shape[1]
            cand = (scores.view(-1, 1) + logp).view(b, beam * v)
            scores, idx = cand.topk(beam, dim=1)
            parent = (idx // v + torch.arange(b)[:, None] * beam).view(-1)
            prev = (idx % v).view(-1)
            state = (tuple(s.index_select(1, parent) for s in state) if isinstance(state, tuple)
                     else state.index_select(1, parent))
            history = [h.index_select(0, parent) for h in history] + [prev]
        return torch.stack(history, 1).view(b, beam, -1)[:, 0]


def median_time(fn, warmup, reps):
    times = []
    for i in range(warmup + reps):
        start = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    p.add_argument("--attention", default="general", choices=["dot", "general", "additive", "bahdanau"])
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--src-vocab", type=int, default=8000)
    p.add_argument("--tgt-vocab", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--src-len", type=int, default=14)
    p.add_argument("--tgt-len", type=int, default=14)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--decode-steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    a.attention = {"bahdanau": "additive"}.get(a.attention, a.attention)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Seq2Seq(a)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = a.batch_size
    src = torch.randint(3, a.src_vocab, (a.src_len, b))
    tgt = torch.randint(3, a.tgt_vocab, (a.tgt_len + 1, b))
    src_len = torch.full((b,), a.src_len)
    tgt_len = torch.full((b,), a.tgt_len + 1)

    def train_step():
        opt.zero_grad()
        logits = model(src, src_len, tgt[:-1], tgt_len - 1)
        loss = F.cross_entropy(logits.reshape(-1, a.tgt_vocab), tgt[1:].reshape(-1),
                               ignore_index=0, label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    train = median_time(train_step, a.warmup, a.reps)
    model.eval()
    translate = median_time(lambda: model.beam_search(src, src_len, a.beam, a.decode_steps),
                            a.warmup, a.reps)
    print(json.dumps({
        "train_tokens_per_s": b * a.tgt_len / train,
        "translate_sentences_per_s": b / translate,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
