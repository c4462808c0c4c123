"""Validation of settings, written once: every face (API, CLI, pyproject, pytest, hypothesis) calls these.

Each function returns the value in its canonical type or raises
:class:`~amaxcheck.errors.ConfigError` naming the setting, what was given and
what is accepted. ``where`` prefixes the message (e.g. ``"--steps"`` or
``"pyproject.toml [tool.amaxcheck]: steps"``) so the user sees the setting the
way they typed it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError

#: the largest finite float32: inputs beyond it cannot reach a model
FLOAT32_MAX = float(np.finfo(np.float32).max)


def integer(value: Any, where: str, minimum: int = 0, maximum: int | None = None) -> int:
    """An ``int`` (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ConfigError(f"{where} must be an integer >= {minimum}{upper}, got {value!r}")
    return int(value)


def number(value: Any, where: str, *, lo: float = -math.inf, hi: float = math.inf,
           lo_open: bool = False, what: str = "") -> float:
    """A finite ``float`` (not a bool) in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    f = float(value) if ok else math.nan
    if not (math.isfinite(f) and (f > lo if lo_open else f >= lo) and f <= hi):
        raise ConfigError(f"{where} must be {what or _describe(lo, hi, lo_open)}, got {value!r}")
    return f


def probability(value: Any, where: str) -> float:
    """A number in ``[0, 1]``."""
    return number(value, where, lo=0.0, hi=1.0, what="a number in [0, 1]")


def input_range(value: Any, where: str = "input_range") -> tuple[float, float]:
    """Two finite float32 numbers ``lo < hi``; a string ``"LO,HI"`` is accepted too."""
    given = repr(value) if isinstance(value, str) else None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        try:
            value = tuple(float(p) for p in parts)
        except ValueError:
            raise ConfigError(f"{where} must be two numbers LO,HI (e.g. 0,1 or 0,255 or -1,1), got {value!r}") from None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be two numbers (lo, hi), e.g. (0, 1), (0, 255) or (-1, 1); "
                          f"got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise ConfigError(f"{where} must satisfy lo < hi with finite values, got {given or f'({lo:g}, {hi:g})'}; "
                          "e.g. (0, 1), (0, 255) or (-1, 1)")
    if max(abs(lo), abs(hi)) > FLOAT32_MAX or (hi - lo) > FLOAT32_MAX:
        raise ConfigError(f"{where} ({lo:g}, {hi:g}) does not fit in float32 (models compute in float32, "
                          f"largest {FLOAT32_MAX:.3g}); give the range the model was trained on, e.g. (0, 255)")
    return lo, hi


def choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _describe(lo: float, hi: float, lo_open: bool) -> str:
    if lo == 0 and lo_open and hi == math.inf:
        return "a positive number"
    if hi == math.inf:
        return f"a number {'>' if lo_open else '>='} {lo:g}"
    return f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]"


def stop_plateau(value: Any, where: str = "stop_plateau") -> int | None:
    """A plateau window in steps (an integer >= 1), or ``None`` for no early stop (``"off"`` and ``False`` too)."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ConfigError(f"{where} must be a number of steps >= 1 or 'off' (no early stop), got {value!r}")
    return int(value)


def stop_plateau_option(value: Any, where: str) -> int | str:
    """:func:`stop_plateau` as the gate's options keep it: a window, or ``"off"`` (``None`` there means "not given")."""
    window = stop_plateau(value, where)
    return "off" if window is None else window


def devices(value: Any, where: str = "devices") -> str | tuple[str, ...] | None:
    """``None``, ``"all"``, or device names (a sequence, or one string of comma-separated names), each listed once.

    Only the form is checked here (no TensorFlow); whether each device exists is
    checked when an engine is built (:func:`amaxcheck.ascent.devices.resolve_devices`).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() == "all":
            return "all"
        items: Any = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{where} must be 'all' or a list of device names like ['/gpu:0', '/gpu:1'], "
                          f"got {value!r}")
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{where} must be 'all' or a list of device names (strings) like ['/gpu:0', '/gpu:1'], "
                          f"got {value!r}")
    names = tuple(item.strip() for item in items)
    if not names or not all(names):
        raise ConfigError(f"{where} must be 'all' or device names separated by commas like /gpu:0,/gpu:1 "
                          f"(no empty names), got {value!r}")
    if "all" in names:
        raise ConfigError(f"{where}: 'all' stands alone (every accelerator, else every CPU device); "
                          f"drop the other names, got {value!r}")
    seen = [n.lower() for n in names]
    twice = sorted({n for n in names if seen.count(n.lower()) > 1})
    if twice:
        raise ConfigError(f"{where} lists {', '.join(twice)} more than once; list each device once")
    return names
