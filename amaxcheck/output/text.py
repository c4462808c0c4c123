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


# --------------------------------------------------------------------------- control characters
#: line and paragraph separators, bidirectional overrides and isolates: shown escaped, never acted on
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _needs_escape(ch: str, keep: str) -> bool:
    code = ord(ch)
    if ch in keep:
        return False
    return (code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)
            or ch in _INVISIBLE)


def escape_controls(text: Any, keep: str = "") -> str:
    """``text`` with control characters as ``\\xNN``/``\\uNNNN`` escapes, everything else as it is.

    Escaped (unless in ``keep``): C0 controls (NUL, ESC, CR, LF, TAB, ...), DEL,
    C1 controls (NEL ``\\x85``, ...), lone surrogates, the non-characters U+FFFE
    and U+FFFF, the line/paragraph separators U+2028/U+2029, bidirectional
    overrides and isolates, and the byte-order mark. The result can be printed
    to a terminal, encoded as UTF-8 and put in XML 1.0.
    """
    text = str(text)
    if not any(_needs_escape(ch, keep) for ch in text):
        return text
    return "".join(_escaped(ch) if _needs_escape(ch, keep) else ch for ch in text)


def terminal_text(text: Any) -> str:
    """One line for a terminal: no raw ESC (no colour or cursor tricks), CR, LF or other control."""
    return escape_controls(text)


def xml_text(text: Any) -> str:
    """Text legal in XML 1.0 (which forbids most controls, surrogates, U+FFFE/U+FFFF); keeps TAB and LF."""
    return escape_controls(text, keep="\t\n")


def markdown_text(text: Any) -> str:
    """Text for one Markdown table cell or line: controls escaped, so a CR or LF cannot split a row."""
    return escape_controls(text)
