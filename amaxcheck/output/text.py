"""Text helpers shared by every output: file-name slugs and aligned plain-text tables.

No TensorFlow, no NumPy: the pytest plugin imports this at load.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def slug(text: Any, *, keep: str = "_-", strip: str = "_", limit: int | None = None,
         fallback: str = "x", tidy_cut: bool = True) -> str:
    """``text`` as a safe name: runs of characters other than ASCII letters, digits and ``keep`` become ``_``.

    The result is stripped of ``strip`` characters at both ends, cut to ``limit``
    characters (and, with ``tidy_cut``, stripped of them again at the cut end);
    ``fallback`` when nothing is left. The names amaxcheck writes:

    * JUnit class names: ``slug(label)``
    * artifact PNG/``.npz`` names: ``slug(label, keep="_.-", limit=40, fallback="class", tidy_cut=False)``
    * per-test folders and baseline files: ``slug(name, keep="_.-", strip="_.", limit=80, fallback="test")``
    """
    out = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", "_", str(text)).strip(strip)
    if limit is not None:
        out = out[:limit]
        if tidy_cut:
            out = out.rstrip(strip)
    return out or fallback


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as left-aligned columns two spaces apart, trailing blanks removed."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
