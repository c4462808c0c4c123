"""Naturalness of ideal inputs: a graded score in ``[0, 1]``, reported and boundable, not a verdict. Pure functions.

An ordinary working CNN's ideal inputs are high-frequency and brittle; an
adversarially trained model's are smoother and survive blur and shifts. Neither is
a defect, so naturalness never decides the verdict; ``--min-naturalness`` /
:func:`amaxcheck.assert_naturalness` bound it and baselines track its drift.

Per class (best restart), with ``u`` the image in unit range:

* ``spectrum`` = ``clip(1 - |slope - slope_ref| / |slope_ref|, 0, 1)``: how close
  the radial power spectrum's log-log slope is to natural images' (the reference
  images' median; without them the classic ``-2`` of power ~ 1/f^2, Field 1987).
  White noise (slope 0) scores 0.
* ``robustness`` = retained confidence under a mild blur, shift and down/up-scaling,
  relative to the reference images' own (1 without them).
* ``alignment`` (labelled reference only) = ``1 - 2 x`` the share of other classes
  whose reference mean correlates better with the ideal input than its own class's.
* ``content`` = ``min(1, rms_contrast / (CONTENT_SHARE * rms_ref))``: a flat image
  has nothing to be natural about (``rms_ref``: the reference images' median RMS
  contrast, else :data:`TYPICAL_RMS_CONTRAST`).

``naturalness = content x mean(spectrum, robustness[, alignment])``. The model's
naturalness is the median over its classes.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: power spectrum slope of natural images (power ~ 1/f^2; Field 1987, van der Schaaf & van Hateren 1996)
NATURAL_SLOPE = -2.0
#: RMS contrast (unit range) of typical natural photographs, used when no reference images are given
TYPICAL_RMS_CONTRAST = 0.2
#: an image with less than this share of the natural RMS contrast counts as partly empty
CONTENT_SHARE = 0.5


def spectrum_score(slope: float, natural_slope: float = NATURAL_SLOPE) -> float:
    """``1`` at the natural slope, ``0`` at white noise's ``0`` or beyond twice the natural slope; NaN if undefined."""
    if not (np.isfinite(slope) and np.isfinite(natural_slope)) or natural_slope == 0:
        return float("nan")
    return float(np.clip(1.0 - abs(slope - natural_slope) / abs(natural_slope), 0.0, 1.0))


def content_score(rms_contrast: float, natural_rms: float = TYPICAL_RMS_CONTRAST) -> float:
    """``min(1, rms / (CONTENT_SHARE * natural_rms))``: 0 for a flat image."""
    if not np.isfinite(rms_contrast) or natural_rms <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, rms_contrast) / (CONTENT_SHARE * natural_rms)))


def alignment_score(alignment_rank: float) -> float:
    """``1 - 2 x rank`` clipped: 1 when the own class's reference mean correlates best, 0 at chance or worse."""
    return float(np.clip(1.0 - 2.0 * alignment_rank, 0.0, 1.0)) if np.isfinite(alignment_rank) else float("nan")


def naturalness(parts: Mapping[str, float]) -> float:
    """``content x mean(other finite parts)``; NaN when nothing is known."""
    others = [v for k, v in parts.items() if k != "content" and np.isfinite(v)]
    if not others:
        return float("nan")
    content = parts.get("content", 1.0)
    return float((content if np.isfinite(content) else 1.0) * np.mean(others))
