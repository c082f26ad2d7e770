#!/usr/bin/env python3
"""Writes the PyTorch fixtures that `crates/recur/tests/ctc_parity.rs` checks `recur::nn::CtcLoss`
against: per case the logits, `log_probs = log_softmax(logits)` `[T, N, C]`, targets, lengths,
the loss, PyTorch's gradient with respect to `log_probs` (what `ctc_loss`'s backward returns)
and autograd's gradient with respect to the logits, as f32 safetensors (computed in f64). A
tensor with NaN or infinite values is stored finite, beside `NAME_nonfinite` that codes each
element (0 finite, 1 NaN, 2 +inf, 3 -inf).

Run (CPU; torch pinned so that the fixtures are reproducible):
    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch==2.15.0 numpy safetensors
    ~/torch-venv/bin/python scripts/make_ctc_fixtures.py
"""
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

TORCH_VERSION = "2.15.0"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ctc"


def case(T, C, input_lengths, targets, blank=0, reduction="mean", zero_infinity=False,
         padded=True, scale=2.0):
    """`targets` is a list of label lists; padded to [N, S] with -1 (never read) or
    concatenated."""
    N = len(input_lengths)
    logits = (scale * torch.randn(T, N, C, dtype=torch.float64)).requires_grad_()
    log_probs = F.log_softmax(logits, dim=2)
    log_probs.retain_grad()
    target_lengths = torch.tensor([len(t) for t in targets])
    if padded:
        S = max(1, max(len(t) for t in targets))
        tgt = torch.full((N, S), blank if blank != 0 else 1, dtype=torch.long)
        for b, t in enumerate(targets):
            tgt[b, : len(t)] = torch.tensor(t, dtype=torch.long)
    else:
        tgt = torch.tensor([x for t in targets for x in t], dtype=torch.long)
    loss = F.ctc_loss(log_probs, tgt, torch.tensor(input_lengths), target_lengths, blank=blank,
                      reduction=reduction, zero_infinity=zero_infinity)
    (loss.sum() if reduction == "none" else loss).backward()
    return {
        "logits": logits, "log_probs": log_probs, "targets": tgt.double(),
        "input_lengths": torch.tensor(input_lengths).double(),
        "target_lengths": target_lengths.double(),
        "loss": loss.reshape(-1), "dlog_probs": log_probs.grad, "dlogits": logits.grad,
        "blank": torch.tensor([float(blank)]), "padded": torch.tensor([float(padded)]),
        "zero_infinity": torch.tensor([float(zero_infinity)]),
    }


def main():
    assert torch.__version__.split("+")[0] == TORCH_VERSION, torch.__version__
    torch.manual_seed(16)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {
        # Ragged input and target lengths, padded targets, PyTorch's defaults.
        "ragged_mean": case(12, 6, [12, 9, 5, 11], [[1, 2, 3], [4, 4, 5, 1], [2], [5, 3, 1, 2, 4]]),
        # Repeated labels need a blank between them.
        "repeats_sum": case(10, 4, [10, 8, 7], [[1, 1, 2, 2], [3, 3, 3], [2, 1, 1]],
                            reduction="sum", padded=False),
        # Blank is the last class, not 0; an empty target.
        "blank_last_none": case(9, 5, [9, 6, 4], [[0, 1, 2], [3, 3], []], blank=4,
                                reduction="none"),
        # Blank in the middle of the classes.
        "blank_middle_mean": case(8, 5, [8, 7], [[0, 3, 1], [4, 0]], blank=2, padded=False),
        # Sequence 1 cannot be aligned: 3 labels with a repeat need 4 frames, it has 3.
        "impossible": case(6, 4, [6, 3], [[1, 2], [1, 1, 3]], reduction="sum"),
        "impossible_zero_infinity": case(6, 4, [6, 3], [[1, 2], [1, 1, 3]], reduction="mean",
                                         zero_infinity=True),
        # One frame, one sequence.
        "single_frame": case(1, 3, [1], [[2]], reduction="mean"),
    }
    for name, tensors in cases.items():
        t = {}
        for k, v in tensors.items():
            v = v.detach().to(torch.float32).contiguous()
            if not torch.isfinite(v).all():
                # safetensors readers may refuse NaN and inf: store the finite values and a code
                # per element (0 finite, 1 NaN, 2 +inf, 3 -inf).
                code = torch.zeros_like(v)
                code[torch.isnan(v)] = 1
                code[v == float("inf")] = 2
                code[v == float("-inf")] = 3
                t[f"{k}_nonfinite"] = code
                v = torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
            t[k] = v
        save_file(t, OUT / f"{name}.safetensors")
        print(name, tensors["loss"].tolist())


if __name__ == "__main__":
    main()
