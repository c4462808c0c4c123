"""Gate defaults from ``[tool.amaxcheck]`` in the nearest ``pyproject.toml``.

The nearest file is the first ``pyproject.toml`` found walking up from the
current folder (the one that marks the project, even if it has no
``[tool.amaxcheck]`` table). Keys are the gate's long options, with dashes or
underscores::

    [tool.amaxcheck]
    model = "models/classifier.keras"
    labels = "models/labels.txt"
    reference = "data/reference.npz"
    input-range = [0, 255]
    classes = "all"            # or [0, 3, 7] or ["cat", "dog"]
    steps = 256
    restarts = 2
    stop-plateau = 64          # or "off": stop a sample once its objective stops rising
    seed = 0
    min-confidence = 0.9
    top-k = 1
    max-degeneracy = 0.5
    json = "amaxcheck-report.json"
    html = "amaxcheck-report.html"
    artifacts = "amaxcheck-artifacts"
    output = "class_scores"    # multi-output models: the class-score output (name or index)
    input = "image"            # multi-input models: the input to synthesize (name or index) ...
    fixed-inputs = "data/fixed.npz"   # ... and one example of each other input, keyed by name
    devices = "all"            # or ["/gpu:0", "/gpu:1"]: spread the ascent's batch (MirroredStrategy)

Relative paths are relative to the ``pyproject.toml``'s folder. Command-line
flags win. ``unsafe`` cannot be set here: allowing code execution must be an
explicit flag on the command line, not something a changed file switches on.
TOML is read with :mod:`tomllib` (Python 3.11+) or, on 3.10, with ``tomli``
(a dependency there); without either, a found file is an error naming
``pip install tomli``, never silently skipped.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _validate as V
from . import defaults as D
from .errors import ConfigError
from .loading import looks_like_module_function

PATH_KEYS = ("model", "labels", "reference", "json", "junit_xml", "markdown", "html", "artifacts", "fixed_inputs")
INT_KEYS = {"steps": 1, "restarts": 1, "seed": 0, "top_k": 1, "trigger_steps": 1}
FLOAT_KEYS = ("min_confidence", "max_degeneracy", "min_naturalness")
OTHER_KEYS = ("classes", "input_range", "quiet", "strict", "triggers", "output", "input", "head", "devices",
              "stop_plateau")
#: keys whose argparse destination has another name (``output`` is ``show``'s PNG path there)
DESTINATIONS = {"output": "model_output"}
KNOWN_KEYS = PATH_KEYS + tuple(INT_KEYS) + FLOAT_KEYS + OTHER_KEYS


@dataclass
class ProjectDefaults:
    """Values from ``[tool.amaxcheck]``, already validated and with paths resolved."""

    path: Path | None = None  # the pyproject.toml read, if any
    values: dict[str, Any] = field(default_factory=dict)  # argparse dest -> value
    notes: list[str] = field(default_factory=list)  # things a user should know (printed unless --quiet)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the current folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _toml_loader() -> Callable[[Any], dict]:
    """``tomllib.load`` (Python 3.11+) or ``tomli.load`` (3.10, where amaxcheck depends on tomli)."""
    try:
        import tomllib  # type: ignore[import-not-found, unused-ignore]  # 3.11+

        return tomllib.load
    except ImportError:
        pass
    try:
        import tomli
    except ImportError:
        raise ConfigError(
            "cannot read [tool.amaxcheck] from pyproject.toml: this Python has no tomllib (added in 3.11) and "
            "tomli, which amaxcheck requires on 3.10, is not installed; fix: pip install tomli"
        ) from None
    return tomli.load


def load_defaults(start: Path | None = None) -> ProjectDefaults:
    """Read and validate ``[tool.amaxcheck]`` from the nearest ``pyproject.toml``."""
    path = find_pyproject(start)
    if path is None:
        return ProjectDefaults()
    load = _toml_loader()
    try:
        with open(path, "rb") as f:
            data = load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or remove it") from exc
    table = data.get("tool", {}).get("amaxcheck")
    if table is None:
        return ProjectDefaults(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.amaxcheck] must be a table of settings, got {type(table).__name__}")
    return ProjectDefaults(path, *parse_table(table, path))


def parse_table(table: dict[str, Any], path: Path) -> tuple[dict[str, Any], list[str]]:
    """Validate a ``[tool.amaxcheck]`` table; return ``(values by argparse dest, notes)``."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    where = f"{path} [tool.amaxcheck]"
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key == "unsafe":
            raise ConfigError(f"{where}: 'unsafe' cannot be set in pyproject.toml; pass --unsafe on the command line")
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            notes.append(f"{where}: unknown key {raw_key!r} ignored"
                         + (f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""))
            continue
        values[DESTINATIONS.get(key, key)] = _parse_value(key, value, path.parent, where)
    return values, notes


def _parse_value(key: str, value: Any, base: Path, where: str) -> Any:
    name = key.replace("_", "-")
    if key in PATH_KEYS:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {name} must be a non-empty string (a path), got {value!r}")
        if key == "model" and looks_like_module_function(value):
            return value  # module:function, imported relative to the current folder
        return str(base / value) if not Path(value).is_absolute() else value
    if key in INT_KEYS:
        return V.integer(value, f"{where}: {name}", INT_KEYS[key])
    if key in FLOAT_KEYS:
        return V.probability(value, f"{where}: {name}")
    if key in ("quiet", "strict", "triggers"):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {name} must be true or false, got {value!r}")
        return value
    if key in ("output", "input"):
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ConfigError(f"{where}: {name} must be the model {name}'s name or index (a string or an integer >= 0), "
                          f"got {value!r}")
    if key == "head":
        if value not in D.HEADS:
            raise ConfigError(f"{where}: head must be one of {', '.join(repr(h) for h in D.HEADS)}, got {value!r}")
        return value
    if key == "stop_plateau":
        return V.stop_plateau_option(value, f"{where}: stop-plateau")
    if key == "devices":
        return V.devices(value, f"{where}: devices")
    if key == "input_range":
        if isinstance(value, str):
            return value
        if isinstance(value, list) and len(value) == 2 and not any(isinstance(v, bool) for v in value):
            return ",".join(repr(v) for v in V.input_range(value, f"{where}: input-range"))
        raise ConfigError(f"{where}: input-range must be two numbers [lo, hi], got {value!r}")
    if key == "classes":
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list) and value and all(
                (isinstance(v, (int, str)) and not isinstance(v, bool)) for v in value):
            return ",".join(str(v) for v in value)
        raise ConfigError(f"{where}: classes must be \"all\", a list of indices or labels, got {value!r}")
    raise ConfigError(f"{where}: unhandled key {name!r}")  # pragma: no cover - KNOWN_KEYS covers all
