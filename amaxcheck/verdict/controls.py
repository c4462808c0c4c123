"""Controls the degeneracy verdict is measured against.

* :func:`shuffled_twin` -- the model with each weight tensor's values permuted:
  same architecture and weight statistics, learning destroyed. Its ideal inputs
  are the degenerate floor, with no reference data needed.
* :func:`white_noise` -- uniform noise of the input's shape and range, the
  noise anchor when no twin can be built.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ModelError


def shuffled_twin(model: Any, seed: int = 0) -> Any:
    """A copy of ``model`` whose weight tensors each have their values randomly permuted.

    The user's model is not modified. Raises :class:`ModelError` for models
    Keras cannot clone (e.g. subclassed models without ``get_config``).
    """
    import keras

    try:
        twin = keras.models.clone_model(model)
    except Exception as exc:  # clone_model raises a variety of errors for custom models
        raise ModelError(
            f"cannot build a shuffled-weights twin of {type(model).__name__} ({exc}); "
            "the verdict falls back to white-noise controls (pass twin=False to silence this)"
        ) from exc
    rng = np.random.default_rng(seed)
    weights = [np.asarray(w) for w in model.get_weights()]
    twin.set_weights([rng.permutation(w.ravel()).reshape(w.shape) for w in weights])
    twin.name = f"{model.name}_shuffled_twin" if hasattr(twin, "name") else "shuffled_twin"
    return twin


def white_noise(shape: Sequence[int], n: int, input_range: Sequence[float], seed: int = 0) -> np.ndarray:
    """``n`` uniform-noise inputs of ``shape`` spanning ``input_range``."""
    lo, hi = float(input_range[0]), float(input_range[1])
    return np.random.default_rng(seed).uniform(lo, hi, (n, *shape)).astype(np.float32)
