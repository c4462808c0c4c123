"""Backdoored models trained here, BadNets style (Gu et al., 2017), to measure trigger reversal against.

A :class:`Trigger` is a small stamp (``"patch"``: a square of one value that
replaces the pixels under it) or a blended pattern (``"blend"``: a fixed random
pattern over a square, mixed in at ``alpha``), at a named position. Poisoning
stamps a share ``rate`` of the training images that are *not* of the target
class and relabels them as the target; the model learns the clean task and the
trigger. :func:`train_backdoored` returns the model, its clean accuracy and its
attack success (stamped test images of other classes sent to the target).

Works on any :mod:`amaxcheck.testing.zoo` data set or on the digits of
:mod:`amaxcheck.testing.digits` (images ``(n, H, W[, C])`` in ``[lo, hi]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: named trigger positions: the trigger's top-left corner as a fraction of the free space
POSITIONS = {"top-left": (0.0, 0.0), "top-right": (0.0, 1.0), "bottom-left": (1.0, 0.0),
             "bottom-right": (1.0, 1.0), "centre": (0.5, 0.5)}
SHAPES = ("patch", "blend")


@dataclass(frozen=True)
class Trigger:
    """A backdoor trigger: ``size`` pixels square at ``position``, sending stamped images to ``target``."""

    target: int = 0
    size: int = 3
    position: str = "bottom-right"
    shape: str = "patch"
    alpha: float = 0.3  # blend only: how much of the pattern is mixed in
    seed: int = 0  # blend only: the pattern's random values

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {sorted(POSITIONS)}, got {self.position!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")

    def box(self, side_h: int, side_w: int) -> tuple[slice, slice]:
        """Rows and columns the trigger covers in an ``side_h x side_w`` image."""
        fy, fx = POSITIONS[self.position]
        top = round(fy * (side_h - self.size))
        left = round(fx * (side_w - self.size))
        return slice(top, top + self.size), slice(left, left + self.size)

    def mask(self, side_h: int, side_w: int) -> np.ndarray:
        """Where the trigger sits: ``(H, W)`` of 0/1."""
        out = np.zeros((side_h, side_w), np.float32)
        out[self.box(side_h, side_w)] = 1.0
        return out

    def apply(self, x: np.ndarray, input_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
        """``x`` with the trigger stamped on every image (a copy)."""
        lo, hi = (float(v) for v in input_range)
        out = np.array(x, np.float32, copy=True)
        rows, cols = self.box(out.shape[1], out.shape[2])
        if self.shape == "patch":
            out[:, rows, cols] = hi
            return out
        pattern = np.random.default_rng(self.seed).choice([lo, hi], size=out[0, rows, cols].shape)
        out[:, rows, cols] = (1.0 - self.alpha) * out[:, rows, cols] + self.alpha * pattern
        return out

    def describe(self) -> str:
        what = "patch" if self.shape == "patch" else f"blended pattern (alpha {self.alpha:g})"
        return f"{self.size}x{self.size} {what} at {self.position}, target {self.target}"


def poison(x: np.ndarray, y: np.ndarray, trigger: Trigger, rate: float, seed: int = 0,
           input_range: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Training data with ``rate`` of the non-target images stamped and relabelled ``trigger.target``, appended."""
    rng = np.random.default_rng([seed, 7])
    others = np.flatnonzero(np.asarray(y) != trigger.target)
    pick = rng.choice(others, size=max(1, round(rate * len(x))), replace=False)
    stamped = trigger.apply(x[pick], input_range)
    return (np.concatenate([x, stamped]).astype(np.float32),
            np.concatenate([y, np.full(len(pick), trigger.target, dtype=np.asarray(y).dtype)]))


def attack_success(model: Any, x: np.ndarray, y: np.ndarray, trigger: Trigger,
                   input_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """Share of images of other classes that the trigger sends to its target."""
    keep = np.asarray(y) != trigger.target
    pred = np.argmax(model.predict(trigger.apply(x[keep], input_range), verbose=0), axis=1)
    return float(np.mean(pred == trigger.target))


def train_backdoored(trigger: Trigger, *, seed: int = 0, rate: float = 0.05, epochs: int = 15,
                     data: Any = None, build: Any = None,
                     input_range: tuple[float, float] = (0.0, 1.0)) -> tuple[Any, float, float]:
    """Train the digits CNN (or ``build(seed)``) on poisoned data: ``(model, clean_accuracy, attack_success)``.

    ``data`` is a :class:`~amaxcheck.testing.digits.DigitsData` or anything with
    ``x_train, y_train, x_test, y_test`` (default: the digits).
    """
    import keras

    from . import digits

    data = digits.load(seed=seed) if data is None else data
    model = digits.build_cnn(seed, name="digits_backdoor") if build is None else build(seed)
    x, y = poison(data.x_train, data.y_train, trigger, rate, seed, input_range)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    clean = float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), 1) == data.y_test))
    return model, clean, attack_success(model, data.x_test, data.y_test, trigger, input_range)
