"""Does the declared input range fit the model and the reference images? Decided before any ascent.

A wrong ``input_range`` does not fail loudly: the ascent runs, the ideal inputs
look like noise to the model, and the verdict blames the model. Two kinds of
evidence show the mistake without running anything:

* **The model's own first layer.** ``Rescaling(scale, offset)`` maps the raw
  range ``[lo, hi]`` to a range ``|scale| * (hi - lo)`` wide; layers that follow
  it expect about 1 (``[0, 1]``) or 2 (``[-1, 1]``). ``Normalization`` stores the
  mean ``m`` and standard deviation ``s`` of the raw data it was fitted on.
  :func:`check_model_range` raises when the declared range is off by more than
  :data:`TOLERANCE` (a factor of 16) from what the layer says, or when the
  fitted data's mean lies outside the range widened by its own width.
* **The reference images.** Real images spread over most of their range.
  :func:`check_reference_spread` raises when the middle 99.8 % of the reference
  values cover less than ``1 / TOLERANCE`` of the declared range (``[0, 1]``
  images declared ``0..255`` cover 0.4 %).

A factor of 16 leaves room for any real convention (``[0, 1]``, ``[-1, 1]``,
``0..255``, standardized pixels; dim or low-contrast data sets) while a 0..1
versus 0..255 confusion, a factor of 255, is always caught. Each error names the
range the evidence points to. A ``preprocess`` callable between the raw input
and the model voids the layer evidence, so it is not read then.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputRangeError

#: how far (as a factor) the declared range may stray from what the evidence says
TOLERANCE = 16.0


def _fmt(lo: float, hi: float) -> str:
    return f"{lo:g},{hi:g}"


def _fix(lo: float, hi: float) -> str:
    return f"pass --input-range {_fmt(lo, hi)} (API: input_range=({lo:g}, {hi:g}))"


def first_preprocessing_layer(model: Any, input_index: int = 0) -> Any:
    """The ``Rescaling`` or ``Normalization`` layer fed directly by the model's optimized input, else ``None``."""
    import keras

    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None
    target = inputs[input_index]
    for layer in getattr(model, "layers", []):
        if not isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            continue
        try:
            if layer.input is target:
                return layer
        except (AttributeError, ValueError):  # shared layers have no single input
            continue
    return None


def check_model_range(model: Any, input_range: Sequence[float], input_index: int = 0) -> None:
    """Raise :class:`~amaxcheck.errors.InputRangeError` if the model's first layer contradicts ``input_range``."""
    import keras

    layer = first_preprocessing_layer(model, input_index)
    if layer is None:
        return
    lo, hi = float(input_range[0]), float(input_range[1])
    if isinstance(layer, keras.layers.Rescaling):
        _check_rescaling(layer, lo, hi)
    elif not getattr(layer, "invert", False):
        _check_normalization(layer, lo, hi)


def _check_rescaling(layer: Any, lo: float, hi: float) -> None:
    scale = float(np.mean(np.abs(np.asarray(layer.scale, np.float64))))
    offset = float(np.mean(np.asarray(layer.offset, np.float64)))
    if scale == 0:
        return
    width = scale * (hi - lo)
    if 1 / TOLERANCE <= width <= TOLERANCE:
        return
    # the raw range the layer turns into [-1, 1] (a negative offset) or [0, 1]
    target = (-1.0, 1.0) if offset < 0 else (0.0, 1.0)
    want = sorted(((target[0] - offset) / scale, (target[1] - offset) / scale))
    raise InputRangeError(
        f"--input-range {_fmt(lo, hi)} does not fit the model: its first layer {layer.name!r} is "
        f"Rescaling(scale={scale:.4g}, offset={offset:g}), which turns that range into one {width:.3g} wide, but it "
        f"expects raw inputs in about {_fmt(*want)} (mapped to {_fmt(*target)}); {_fix(*want)}")


def _check_normalization(layer: Any, lo: float, hi: float) -> None:
    mean = getattr(layer, "mean", None)
    variance = getattr(layer, "variance", None)
    if mean is None or variance is None:
        return
    m = float(np.mean(np.asarray(mean, np.float64)))
    s = float(np.sqrt(np.mean(np.asarray(variance, np.float64))))
    if s <= 0 or (m == 0.0 and s == 1.0):  # no statistics stored: the identity
        return
    width = hi - lo
    spread = s / width  # uniform data over the range: 0.29; natural images: about 0.1-0.3
    inside = lo - width <= m <= hi + width
    if inside and 0.29 / TOLERANCE <= spread <= 0.29 * TOLERANCE:
        return
    want = _common_range(m, s)
    raise InputRangeError(
        f"--input-range {_fmt(lo, hi)} does not fit the model: its first layer {layer.name!r} is a Normalization "
        f"fitted on inputs with mean {m:.3g} and standard deviation {s:.3g}, "
        + ("outside that range" if not inside else f"{spread:.2g} of its width")
        + f"; the data it was fitted on lie in about {_fmt(*want)}: {_fix(*want)}")


#: the raw ranges models are usually trained on, tried in this order to name the fix
COMMON_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (-128.0, 127.0))


def _common_range(mean: float, sd: float) -> tuple[float, float]:
    """A usual range that holds data of this mean and spread, else ``mean +- 2 sd``."""
    for lo, hi in COMMON_RANGES:
        if lo <= mean <= hi and 0.29 / TOLERANCE <= sd / (hi - lo) <= 0.29 * TOLERANCE:
            return lo, hi
    return float(f"{mean - 2 * sd:.3g}"), float(f"{mean + 2 * sd:.3g}")


def check_reference_spread(x: np.ndarray, input_range: Sequence[float]) -> None:
    """Raise :class:`~amaxcheck.errors.InputRangeError` if the reference images fill a sliver of ``input_range``."""
    values = np.asarray(x, np.float64).ravel()
    if values.size < 2:
        return
    lo, hi = float(input_range[0]), float(input_range[1])
    a, b = np.percentile(values, [0.1, 99.9])
    share = (b - a) / (hi - lo)
    if share >= 1 / TOLERANCE or b == a:  # constant images carry no evidence about the range
        return
    want = next(((clo, chi) for clo, chi in COMMON_RANGES if clo <= a and b <= chi and (b - a) / (chi - clo) >= 0.25),
                (float(f"{a:.3g}"), float(f"{b:.3g}")))
    raise InputRangeError(
        f"the reference images span {a:.3g}..{b:.3g}, only {share:.1%} of --input-range {_fmt(lo, hi)}: the model "
        f"most likely takes inputs in {_fmt(*want)}; {_fix(*want)}, or scale the reference images to the declared range")
