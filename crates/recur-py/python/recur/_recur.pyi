"""Type stubs of recur's compiled module (`recur._recur`). Use it through `recur`'s classes."""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, "os.PathLike[str]"]

def set_num_threads(n: int) -> None:
    """Sets the threads recur computes with (1 to 1024); results do not depend on it."""

def get_num_threads() -> int:
    """The threads recur computes with (every available core unless set)."""

class RecurrentLayer:
    """One stacked recurrent layer (`recur.RNN/LSTM/GRU` wrap it)."""

    def __init__(self, options: Dict[str, Any]) -> None: ...
    @property
    def dtype(self) -> str: ...
    def forward(
        self,
        x: np.ndarray,
        h0: Optional[np.ndarray] = None,
        c0: Optional[np.ndarray] = None,
        lengths: Optional[Sequence[int]] = None,
    ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """x (T, B, I) or (B, T, I); h0, c0 (L*D, B, H); returns (output, h_n, c_n or None)."""
    def state_dict(self) -> List[Tuple[str, np.ndarray]]: ...
    def names(self) -> List[str]: ...
    def set_param(self, name: str, value: np.ndarray) -> None: ...

class CharModel:
    """A character model and its vocabulary (`recur.CharLM` wraps it)."""

    @staticmethod
    def load(path: _Path) -> "CharModel": ...
    def sample(
        self, length: int, prime: Optional[str] = None, options: Optional[Dict[str, Any]] = None
    ) -> str: ...
    def evaluate(self, text: str) -> Dict[str, float]: ...
    def save(self, path: _Path, overwrite: bool = False) -> None: ...
    @property
    def vocab(self) -> List[str]: ...
    def config_json(self) -> str: ...
    @property
    def num_params(self) -> int: ...

def train_char_model(
    text: str,
    options: Dict[str, Any],
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> CharModel: ...

class Classifier:
    """A sequence classifier or regressor loaded from a `recur classify` / `recur regress`
    checkpoint."""

    @property
    def classes(self) -> List[str]:
        """The class labels (empty for a regressor)."""
    @property
    def is_regressor(self) -> bool: ...
    @property
    def input_features(self) -> int:
        """Features per step F (0 for a model that reads text)."""
    def predict(
        self, sequences: Sequence[Union[str, npt.NDArray[np.float32]]], batch_size: int = 64
    ) -> np.ndarray:
        """Sequences: strings (text model) or float32 arrays (T, F). Returns class
        probabilities (N, C) float32, or for a regressor the values (N,)."""

class Forecaster:
    """A forecaster loaded from a `recur forecast` checkpoint."""

    @property
    def horizon(self) -> int: ...
    @property
    def series_ids(self) -> List[str]: ...
    def forecast(
        self,
        history: npt.NDArray[np.float64],
        covariates: Optional[Sequence[npt.NDArray[np.float64]]] = None,
        series: Optional[str] = None,
    ) -> Tuple[np.ndarray, Dict[float, Tuple[np.ndarray, np.ndarray]]]:
        """history (N,) oldest first, covariates each (N,); returns the forecast (horizon,)
        and {level: (lower (horizon,), upper (horizon,))}."""

class Translator:
    """A translation model loaded from a `recur translate train` checkpoint."""

    def translate(self, sentences: Sequence[str], beam: int = 5) -> List[str]: ...

def load(path: _Path) -> Union[CharModel, Classifier, Forecaster, Translator]: ...
