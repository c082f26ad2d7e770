"""recur: recurrent neural networks with PyTorch's semantics, computed in Rust.

``recur.RNN``, ``recur.LSTM`` and ``recur.GRU`` take PyTorch's constructor arguments and compute
exactly what ``torch.nn.RNN/LSTM/GRU`` compute, on NumPy arrays (float32 or float64); their
``state_dict()`` uses PyTorch's parameter names, so weights move both ways. ``recur.CharLM``
trains, samples and evaluates character models, and ``recur.load`` opens a checkpoint of any of
recur's tasks (character model, classifier, forecaster, translation model).

Every computation releases the GIL and runs on recur's threads (``recur.set_num_threads``).
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _recur
from ._recur import get_num_threads, set_num_threads

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "CharLM",
    "Classifier",
    "Forecaster",
    "Translator",
    "IncompatibleKeys",
    "load",
    "set_num_threads",
    "get_num_threads",
]
__version__ = _recur.__version__

Classifier = _recur.Classifier
Forecaster = _recur.Forecaster
Translator = _recur.Translator

_DTYPES = {"float32": np.float32, "float64": np.float64}


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` left out, as PyTorch returns it."""

    missing_keys: List[str]
    unexpected_keys: List[str]


def _dtype_name(dtype: Any) -> str:
    name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise ValueError(f"dtype: expected float32 or float64, got {name}")
    return name


class _RNNBase:
    """A stacked, optionally bidirectional recurrent layer with ``torch.nn.RNNBase``'s interface."""

    _mode = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        nonlinearity: str = "tanh",
        dtype: Any = np.float32,
        seed: Optional[int] = None,
    ) -> None:
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.nonlinearity = nonlinearity
        self._layer = _recur.RecurrentLayer(
            {
                "mode": self._mode,
                "input_size": self.input_size,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "bias": self.bias,
                "batch_first": self.batch_first,
                "dropout": self.dropout,
                "bidirectional": self.bidirectional,
                "nonlinearity": nonlinearity,
                "dtype": _dtype_name(dtype),
                "seed": random.getrandbits(63) if seed is None else int(seed),
            }
        )

    @property
    def dtype(self) -> np.dtype:
        """The precision parameters and results are kept in (float32 or float64)."""
        return np.dtype(self._layer.dtype)

    def _array(self, name: str, value: Any) -> np.ndarray:
        try:
            return np.ascontiguousarray(np.asarray(value), dtype=self.dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: expected an array of numbers ({e})") from None

    def __call__(self, x: Any, hx: Any = None, lengths: Any = None) -> Tuple[Any, Any]:
        """Runs the layer, in evaluation mode (no dropout), as ``torch.nn.RNN/LSTM/GRU`` does.

        ``x``: ``(T, B, input_size)``, or ``(B, T, input_size)`` with ``batch_first``, or
        unbatched ``(T, input_size)``. ``hx``: the initial state ``(num_layers * num_directions,
        B, hidden_size)`` (without ``B`` for unbatched input), a pair ``(h_0, c_0)`` for LSTM;
        zeros when None. ``lengths``: valid steps of each sequence ``(B,)``, as given to
        ``pack_padded_sequence`` (any order); outputs past a sequence's end are zero and ``h_n``
        is its state at its last valid step. Arrays are converted to the layer's dtype.

        Returns ``(output, h_n)``, for LSTM ``(output, (h_n, c_n))``: ``output`` is
        ``(T, B, D * hidden_size)`` (``(B, T, …)`` with ``batch_first``; ``D`` = 2 when
        bidirectional), ``h_n`` and ``c_n`` ``(num_layers * D, B, hidden_size)``.
        """
        x = self._array("x", x)
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :] if not self.batch_first else x[None, :, :]
        h0, c0 = self._states(hx, unbatched)
        if lengths is not None:
            lengths = [int(n) for n in np.asarray(lengths).reshape(-1)]
        output, h_n, c_n = self._layer.forward(np.ascontiguousarray(x), h0, c0, lengths)
        if unbatched:
            output = output[:, 0, :] if not self.batch_first else output[0]
            h_n = h_n[:, 0, :]
            c_n = None if c_n is None else c_n[:, 0, :]
        if self._mode == "LSTM":
            return output, (h_n, c_n)
        return output, h_n

    def _states(self, hx: Any, unbatched: bool) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        if hx is None:
            return None, None
        if self._mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("hx: expected a pair (h_0, c_0) for LSTM")
            h0, c0 = self._array("hx", hx[0]), self._array("hx[1] (c_0)", hx[1])
        else:
            h0, c0 = self._array("hx", hx), None
        if unbatched:
            h0 = h0[:, None, :] if h0.ndim == 2 else h0
            c0 = c0[:, None, :] if c0 is not None and c0.ndim == 2 else c0
        return (
            np.ascontiguousarray(h0),
            None if c0 is None else np.ascontiguousarray(c0),
        )

    forward = __call__

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's names and shapes, in its order
        (``weight_ih_l0 (G*H, input_size)``, ``weight_hh_l0 (G*H, H)``, ``bias_ih_l0 (G*H,)``,
        ``bias_hh_l0 (G*H,)``, ``…_reverse``; G = 1, 4, 3 for RNN, LSTM, GRU)."""
        return dict(self._layer.state_dict())

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copies parameters in: values are NumPy arrays or anything with ``__array__`` (a
        PyTorch ``state_dict()`` works as it is). Raises ``ValueError`` naming the parameter and
        both shapes when a shape differs, and with ``strict`` when names are missing or
        unexpected; otherwise returns the names it left out."""
        names = self._layer.names()
        missing = [n for n in names if n not in state_dict]
        unexpected = [k for k in state_dict if k not in names]
        if strict and (missing or unexpected):
            raise ValueError(
                f"state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        for name in names:
            if name in state_dict:
                self._layer.set_param(name, self._array(f"state_dict[{name!r}]", state_dict[name]))
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        extra = []
        if self.num_layers != 1:
            extra.append(f"num_layers={self.num_layers}")
        if not self.bias:
            extra.append("bias=False")
        if self.batch_first:
            extra.append("batch_first=True")
        if self.dropout:
            extra.append(f"dropout={self.dropout}")
        if self.bidirectional:
            extra.append("bidirectional=True")
        args = ", ".join([str(self.input_size), str(self.hidden_size)] + extra)
        return f"{type(self).__name__}({args})"


class RNN(_RNNBase):
    """Elman RNN ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``f`` = tanh or relu
    (``nonlinearity``), as ``torch.nn.RNN``."""

    _mode = "RNN"


class LSTM(_RNNBase):
    """Long short-term memory, gates ``i, f, g, o``, as ``torch.nn.LSTM``; returns
    ``(output, (h_n, c_n))``."""

    _mode = "LSTM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "nonlinearity" in kwargs:
            raise ValueError("nonlinearity: only RNN takes one")
        super().__init__(*args, **kwargs)


class GRU(_RNNBase):
    """Gated recurrent unit, gates ``r, z, n``, as ``torch.nn.GRU``."""

    _mode = "GRU"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "nonlinearity" in kwargs:
            raise ValueError("nonlinearity: only RNN takes one")
        super().__init__(*args, **kwargs)


def _tqdm_progress() -> Optional[Callable[[Dict[str, Any]], None]]:
    try:
        from tqdm.auto import tqdm  # type: ignore
    except ImportError:
        return None
    bar = tqdm(total=1000, unit="‰", desc="training")

    def show(info: Dict[str, Any]) -> None:
        if "val_loss" in info:
            if info["val_loss"] is not None:
                bar.set_postfix(val_loss=f"{info['val_loss']:.4f}")
            bar.close()
            return
        bar.n = int(1000 * info["budget_fraction"])
        bar.set_postfix(step=int(info["step"]), loss=f"{info['loss']:.4f}")
        bar.refresh()

    return show


class CharLM:
    """A character-level language model: embedding (or one-hot input), stacked RNN/LSTM/GRU,
    linear head. Train one with ``CharLM.train(text)``, or open a checkpoint of ``recur train``
    with ``recur.load(path)`` or ``CharLM.load(path)``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @classmethod
    def train(
        cls,
        text: str,
        *,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        embed_dim: int = 64,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
        batch_size: int = 32,
        seq_len: int = 64,
        lr: float = 3e-3,
        steps: Optional[int] = None,
        time_budget: Optional[float] = None,
        val_frac: float = 0.1,
        seed: int = 1,
        progress: Union[None, bool, Callable[[Dict[str, Any]], None]] = None,
        report_every: int = 10,
    ) -> "CharLM":
        """Trains a fresh model on ``text`` (truncated BPTT over ``batch_size`` streams of
        ``seq_len`` steps, Adam with warm-up and a cosine schedule, gradient clipping at 1) for
        ``steps`` optimiser steps or ``time_budget`` seconds (60 s when neither is given); the
        last ``val_frac`` of the text is held out. ``progress`` is called with a dict (``step``,
        ``total_steps``, ``loss``, ``lr``, ``seconds``, ``budget_fraction``) every
        ``report_every`` steps and once at the end with ``val_loss`` and ``val_bpc``; when
        None, a ``tqdm`` bar is shown if tqdm is installed; False shows nothing."""
        if progress is None:
            progress = _tqdm_progress()
        elif progress is False:
            progress = None
        options = {
            "cell": cell,
            "nonlinearity": nonlinearity,
            "embed_dim": embed_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
            "batch_size": batch_size,
            "seq_len": seq_len,
            "lr": lr,
            "steps": steps,
            "time_budget": time_budget,
            "val_frac": val_frac,
            "seed": seed,
            "report_every": report_every,
        }
        return cls(_recur.train_char_model(text, options, progress))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "CharLM":
        """Opens the character-model checkpoint in directory ``path``."""
        return cls(_recur.CharModel.load(path))

    def sample(
        self,
        length: int,
        prime: Optional[str] = None,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        argmax: bool = False,
        seed: int = 0,
    ) -> str:
        """``length`` characters generated after ``prime`` (a newline, space or the first
        character of the vocabulary when None), drawn from ``softmax(logits / temperature)``
        restricted to the ``top_k`` most likely (0: all) and the smallest set reaching ``top_p``;
        ``argmax`` takes the most likely. The same ``seed`` gives the same text."""
        options = {
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "argmax": argmax,
            "seed": seed,
        }
        return self._inner.sample(length, prime, options)

    def evaluate(self, text: str) -> Dict[str, float]:
        """The exact mean negative log-likelihood of ``text``: ``loss`` (nats per character),
        ``bpc``, ``perplexity``, ``accuracy`` (next character is the arg-max) and ``tokens``."""
        return self._inner.evaluate(text)

    def save(self, path: Union[str, "os.PathLike[str]"], overwrite: bool = False) -> None:
        """Writes the checkpoint (``config.json``, ``model.safetensors``) into directory
        ``path`` atomically; a directory holding files is replaced only with ``overwrite``."""
        self._inner.save(path, overwrite)

    @property
    def vocab(self) -> List[str]:
        """One single-character string per token id."""
        return self._inner.vocab

    @property
    def config(self) -> Dict[str, Any]:
        """The ``model`` section of the checkpoint's ``config.json``."""
        import json

        return json.loads(self._inner.config_json())

    @property
    def num_params(self) -> int:
        """Number of parameters."""
        return self._inner.num_params

    def __repr__(self) -> str:
        c = self.config
        return (
            f"CharLM(cell={c['cell']!r}, vocab_size={c['vocab_size']}, "
            f"hidden_size={c['hidden_size']}, num_layers={c['num_layers']})"
        )


def load(path: Union[str, "os.PathLike[str]"]) -> Union[CharLM, Classifier, Forecaster, Translator]:
    """Opens the checkpoint in directory ``path``, whatever its task: a ``CharLM``, a
    ``Classifier`` (also for regressors), a ``Forecaster`` or a ``Translator``."""
    model = _recur.load(path)
    if isinstance(model, _recur.CharModel):
        return CharLM(model)
    return model

