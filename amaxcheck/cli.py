"""The ``amaxcheck`` command: a pre-deployment gate for Keras image classifiers.

    amaxcheck gate MODEL [--labels FILE] [--classes all|0,3,7|name,name]
                   [--reference FILE.npz|FOLDER] [--input-range LO,HI]
                   [--steps N] [--restarts R] [--seed S]
                   [--min-confidence P] [--top-k K] [--max-degeneracy D]
                   [--json PATH] [--junit-xml PATH] [--markdown PATH]
                   [--artifacts DIR] [--unsafe] [--quiet] [--debug]
    amaxcheck show MODEL --class C -o out.png [--gif [out.gif]]

Exit codes: 0 the gate passed, 1 it failed (some check failed), 2 it could not
run (bad arguments, unreadable or unsafe model, bad reference data, unwritable
output): one line on stderr, no traceback unless ``--debug``.

Everything that can be checked without TensorFlow (arguments, output paths,
labels, the reference file, the model file's format and safety) is checked
first, so mistakes fail in well under a second.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from . import __version__
from .pyproject import ProjectDefaults, load_defaults
from .errors import AmaxcheckError, ConfigError, ReferenceDataError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

#: Same as :func:`amaxcheck.synthesize` and :func:`amaxcheck.check` (a test keeps them equal).
DEFAULTS: dict[str, Any] = {
    "classes": "all", "steps": 256, "restarts": 4, "seed": 0, "input_range": "0,1",
    "min_confidence": 0.9, "top_k": 1, "max_degeneracy": 0.5, "quiet": False,
}
_SHOW_KEYS = ("model", "labels", "input_range", "steps", "restarts", "seed", "quiet")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class UsageError(ConfigError):
    """A command-line argument is malformed (argparse's errors, as an exception)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError`, and reads ``-1,1`` or ``-128,127`` after an option as its value.

    Before Python 3.13, argparse takes a word starting with ``-`` as an option
    unless it is a plain number (``-1``, ``-0.5``), so ``--input-range -1,1``
    failed with "expected one argument". No amaxcheck option starts with a digit,
    so every word that starts with ``-`` and a digit (or ``-.`` and a digit) is a
    value, as in Python 3.13's argparse.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# --------------------------------------------------------------------------- argument types
def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value:g}")
    return value


def parse_input_range(text: str) -> tuple[float, float]:
    """``"LO,HI"`` to ``(lo, hi)``; raises :class:`ConfigError` unless two finite numbers with lo < hi."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--input-range must be two numbers LO,HI (e.g. 0,1 or 0,255; for negatives "
                          f"write --input-range=-1,1), got {text!r}") from None
    if not (abs(lo) < float("inf") and abs(hi) < float("inf")) or not lo < hi:
        raise ConfigError(f"--input-range must satisfy LO < HI with finite values, got {text!r}; e.g. 0,1 or 0,255")
    return lo, hi


def parse_classes(text: str) -> Any:
    """``"all"``, or a comma list of indices and/or labels (digits-only items are indices unless they are labels)."""
    text = str(text).strip()
    if text == "all":
        return "all"
    items = [p.strip() for p in text.split(",")]
    if not text or any(not p for p in items):
        raise ConfigError(f"--classes must be 'all' or a comma list like 0,3,7 or cat,dog, got {text!r}")
    return items


def _resolve_class_items(items: Any, labels: Optional[list[str]]) -> Any:
    """Turn parsed ``--classes`` items into what :func:`amaxcheck.synthesize` takes (labels win over digits)."""
    if items == "all":
        return "all"
    out: list[int | str] = []
    for item in items:
        if labels is not None and item in labels:
            out.append(item)
        elif item.lstrip("-").isdigit():
            out.append(int(item))
        else:
            out.append(item)
    return out


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``amaxcheck`` parser. Option defaults are ``None`` so pyproject values can fill the gaps."""
    parser = _Parser(prog="amaxcheck", description="Test trained Keras image classifiers through each class's ideal input.")
    parser.add_argument("--version", action="version", version=f"amaxcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{gate,show}")
    sub.required = True

    common = _Parser(add_help=False)
    common.add_argument("model", nargs="?", metavar="MODEL",
                        help=".keras file, legacy .h5 file, SavedModel folder (needs --unsafe), or module:function")
    common.add_argument("--labels", metavar="FILE", help="class names: a text file, one per line, or a JSON list")
    common.add_argument("--input-range", metavar="LO,HI", help="the model's raw input range (default 0,1)")
    common.add_argument("--steps", type=_int_at_least(1), metavar="N", help="ascent steps per sample (default 256)")
    common.add_argument("--restarts", type=_int_at_least(1), metavar="R", help="starts per class (default 4)")
    common.add_argument("--seed", type=_int_at_least(0), metavar="S", help="random seed (default 0)")
    common.add_argument("--unsafe", action="store_true",
                        help="allow loads that can run code from the model file (Lambda layers, SavedModel graphs)")
    common.add_argument("--quiet", action="store_true", default=None, help="no progress, table or notes; only the verdict line")
    common.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's own log lines")

    gate = sub.add_parser("gate", parents=[common], help="synthesize every class's ideal input, check it, exit 0/1/2",
                          description="Exit 0 if every check passes, 1 if one fails, 2 if the gate cannot run. "
                                      "Defaults come from [tool.amaxcheck] in the nearest pyproject.toml.")
    gate.add_argument("--classes", metavar="all|0,3,7|name,name", help="classes to check (default all)")
    gate.add_argument("--reference", metavar="FILE.npz|FOLDER",
                      help=".npz with x (raw input range) and optional integer y, or a folder of images in class sub-folders")
    gate.add_argument("--min-confidence", type=_probability, metavar="P", help="required target probability (default 0.9)")
    gate.add_argument("--top-k", type=_int_at_least(1), metavar="K", help="target must rank in the top K (default 1)")
    gate.add_argument("--max-degeneracy", type=_probability, metavar="D",
                      help="a class fails above this degeneracy (default 0.5)")
    gate.add_argument("--json", metavar="PATH", help="write the gate JSON document")
    gate.add_argument("--junit-xml", metavar="PATH", help="write JUnit XML (one testcase per class x check)")
    gate.add_argument("--markdown", metavar="PATH", help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY)")
    gate.add_argument("--artifacts", metavar="DIR", help="write PNGs, a labelled grid, the arrays and the JSON here")

    show = sub.add_parser("show", parents=[common], help="save one class's ideal input as an upscaled PNG")
    show.add_argument("--class", dest="cls", required=True, metavar="C", help="class index or label")
    show.add_argument("-o", "--output", required=True, metavar="PNG", help="where to write the PNG")
    show.add_argument("--size", type=_int_at_least(8), default=256, metavar="PX",
                      help="upscale (nearest neighbour) until the shorter side is at least PX (default 256)")
    show.add_argument("--gif", nargs="?", const="", metavar="GIF",
                      help="also write the ascent as an animated GIF (default: the PNG path with .gif)")
    return parser


# --------------------------------------------------------------------------- options
@dataclass
class Options:
    """Resolved settings for one command: built-in defaults < pyproject < command line."""

    command: str
    values: dict[str, Any]
    project: ProjectDefaults = field(default_factory=ProjectDefaults)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def resolve_options(ns: argparse.Namespace, project: ProjectDefaults) -> Options:
    """Merge defaults, ``[tool.amaxcheck]`` and flags; validate what needs no TensorFlow."""
    given = {k: v for k, v in vars(ns).items() if v is not None}
    from_project = dict(project.values)
    if ns.command == "show":
        from_project = {k: v for k, v in from_project.items() if k in _SHOW_KEYS}
    values = {**DEFAULTS, **from_project, **given}
    if not values.get("model"):
        raise ConfigError("no MODEL given: pass a .keras/.h5 file, a SavedModel folder or module:function, "
                          "or set model = \"...\" in [tool.amaxcheck] of pyproject.toml")
    values["input_range"] = parse_input_range(values["input_range"])
    if ns.command == "gate":
        values["classes"] = parse_classes(values["classes"])
        for flag, key, folder in (("--json", "json", False), ("--junit-xml", "junit_xml", False),
                                  ("--markdown", "markdown", False), ("--artifacts", "artifacts", True)):
            if values.get(key):
                check_writable(values[key], flag, folder=folder)
    else:
        check_writable(values["output"], "-o", folder=False)
        if values.get("gif") == "":
            values["gif"] = str(Path(values["output"]).with_suffix(".gif"))
        if values.get("gif"):
            check_writable(values["gif"], "--gif", folder=False)
    return Options(ns.command, values, project)


def check_writable(path: str, flag: str, *, folder: bool) -> None:
    """Raise :class:`ConfigError` when ``path`` (a file, or a folder with ``folder``) cannot be written."""
    p = Path(path)
    if p.exists():
        if folder and not p.is_dir():
            raise ConfigError(f"{flag} {path!r} is a file, not a folder; give a folder path")
        if not folder and p.is_dir():
            raise ConfigError(f"{flag} {path!r} is a folder; give a file path")
        where = p if folder else p.parent
    else:
        where = p.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        if where.exists() and not where.is_dir():
            raise ConfigError(f"{flag} {path!r} cannot be written: {str(where)!r} is a file, not a folder")
    if where.exists() and not os.access(where, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path!r} cannot be written: no permission to write in {str(where)!r}")


# --------------------------------------------------------------------------- inputs
def read_labels(path: str) -> list[str]:
    """Class names from a text file (one per line, blank lines ignored) or a JSON list."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--labels file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --labels file {path!r}: {exc}") from None
    if path.lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--labels file {path!r} is not valid JSON ({exc}); give a JSON list of names") from None
        if not isinstance(data, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in data):
            raise ConfigError(f"--labels file {path!r} must hold a JSON list of class names, e.g. [\"cat\", \"dog\"]")
        labels = [str(v) for v in data]
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ConfigError(f"--labels file {path!r} holds no class names")
    dupes = sorted({name for name in labels if labels.count(name) > 1})
    if dupes:
        raise ConfigError(f"--labels file {path!r} repeats names {dupes}; each class needs a unique name")
    return labels


def read_reference_npz(path: str) -> tuple[Any, Any]:
    """``x`` and optional ``y`` from an ``.npz`` (never unpickled)."""
    import zipfile

    import numpy as np

    if not zipfile.is_zipfile(path):
        raise ReferenceDataError(f"cannot read --reference {path!r}: not an .npz archive (truncated, or another format?); "
                                 "save it with np.savez(path, x=images, y=labels), or pass a folder of images")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data.files:
                raise ReferenceDataError(f"--reference {path!r} has arrays {data.files} but no 'x'; save it with "
                                         "np.savez(path, x=images, y=labels)")
            x = data["x"]
            y = data["y"] if "y" in data.files else None
    except ReferenceDataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ReferenceDataError(f"--reference {path!r} holds object (pickled) arrays, which amaxcheck never "
                                     "loads; store x and y as numeric arrays") from None
        raise ReferenceDataError(f"cannot read --reference {path!r} as .npz: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ReferenceDataError(f"cannot read --reference {path!r} as .npz: {exc}") from None
    if x.dtype.kind not in "fiub":
        raise ReferenceDataError(f"--reference {path!r}: x has dtype {x.dtype}; it must be numeric images")
    return x, y


def read_reference_folder(path: str, input_shape: Sequence[int], input_range: Sequence[float],
                          labels: Optional[list[str]], n_classes: int) -> tuple[Any, Any]:
    """Images in class sub-folders (named by label or by index), scaled into ``input_range``.

    Integer images (uint8, uint16) are mapped from their full dtype range to
    ``input_range``; float images are taken as already in the raw range. Sizes
    must match the model's input exactly (no silent resizing).
    """
    import numpy as np
    from skimage import io as skio

    root = Path(path)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ReferenceDataError(f"--reference folder {path!r} has no class sub-folders (expected {path}/<label>/*.png)")
    shape = tuple(int(s) for s in input_shape)
    lo, hi = float(input_range[0]), float(input_range[1])
    xs, ys = [], []
    for folder in folders:
        index = _folder_class(folder.name, labels, n_classes, path)
        for file in sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            try:
                img = np.asarray(skio.imread(file))
            except Exception as exc:  # imageio raises many types for unreadable files
                raise ReferenceDataError(f"cannot read reference image {str(file)!r}: {exc}") from None
            xs.append(_fit_image(img, shape, lo, hi, file))
            ys.append(index)
    if not xs:
        raise ReferenceDataError(f"--reference folder {path!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64)


def _folder_class(name: str, labels: Optional[list[str]], n_classes: int, root: str) -> int:
    if labels is not None and name in labels:
        return labels.index(name)
    if name.isdigit() and int(name) < n_classes:
        return int(name)
    known = f"labels {labels}" if labels is not None else f"indices 0..{n_classes - 1}"
    raise ReferenceDataError(f"--reference sub-folder {name!r} in {root!r} names no class; name sub-folders by {known}")


def _fit_image(img: Any, shape: tuple[int, ...], lo: float, hi: float, file: Path) -> Any:
    import numpy as np

    if img.dtype.kind in "ui":
        unit = img.astype(np.float64) / float(np.iinfo(img.dtype).max)
        img = lo + (hi - lo) * unit
    elif img.dtype.kind == "b":
        img = np.where(img, hi, lo)
    img = np.asarray(img, np.float32)
    want_c = shape[2] if len(shape) == 3 else None
    if img.ndim == 3 and img.shape[-1] == 4 and want_c in (3, None):
        img = img[..., :3]  # drop alpha
    if want_c is not None and img.ndim == 2:
        img = np.repeat(img[..., None], want_c, axis=-1) if want_c in (1, 3) else img
    if len(shape) == 2 and img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.shape != shape:
        raise ReferenceDataError(
            f"reference image {str(file)!r} has shape {img.shape} but the model takes {shape}; resize the images to "
            f"{shape[0]}x{shape[1]} (amaxcheck does not resize, so nothing is distorted silently)"
        )
    return img


# --------------------------------------------------------------------------- TensorFlow import, quietly
@contextlib.contextmanager
def native_stderr_captured(enabled: bool = True) -> Iterator[None]:
    """Hold TensorFlow's C++ log lines (written straight to fd 2 at import and device start) back.

    They are replayed if something other than an :class:`AmaxcheckError` escapes,
    since they may explain it. Disabled by ``--debug``.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        replay = False
        try:
            yield
        except AmaxcheckError:
            raise
        except BaseException:
            replay = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if replay:
                tmp.seek(0)
                sys.stderr.write(tmp.read().decode("utf-8", "replace"))


def _quiet_tensorflow_logging() -> None:
    """TensorFlow's C++ and Python loggers down to errors (retracing notices are not the user's business)."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass


# --------------------------------------------------------------------------- running
class _Console:
    """stdout for results, stderr for status lines (only on a terminal) and errors."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def status(self, message: str) -> None:
        if self.tty and not self.quiet:
            print(f"amaxcheck: {message}", file=sys.stderr, flush=True)

    def out(self, text: str) -> None:
        print(text, flush=True)


@dataclass
class _Loaded:
    model: Any
    labels: Optional[list[str]]
    reference: Optional[tuple[Any, Any]]
    kind: str


def _load_inputs(opts: Options, console: _Console, *, debug: bool) -> _Loaded:
    """Labels, reference, model: cheap checks first, then TensorFlow."""
    from . import loading
    labels = read_labels(opts.labels) if opts.values.get("labels") else None
    reference = None
    ref_path = opts.values.get("reference")
    if ref_path:
        if not Path(ref_path).exists():
            raise ReferenceDataError(f"--reference not found: {ref_path!r}")
        if Path(ref_path).is_file():
            reference = read_reference_npz(ref_path)
    kind = loading.precheck(opts.model, unsafe=bool(opts.values.get("unsafe")))
    console.status(f"loading {opts.model} ...")
    if not debug:
        _quiet_tensorflow_logging()
    with native_stderr_captured(not debug):
        import tensorflow  # noqa: F401  (its import-time log lines are held back)

        model = loading.load_model(opts.model, unsafe=bool(opts.values.get("unsafe")))
    return _Loaded(model, labels, reference, kind)


def _model_facts(model: Any) -> tuple[tuple[int, ...], int]:
    """Input shape (without batch) and number of classes, as the engine will see them."""
    from .ascent.model_adapter import adapt

    adapter = adapt(model)
    return tuple(adapter.input_shape), int(adapter.n_classes)


def run_gate(opts: Options, argv: Sequence[str], started: float, *, debug: bool) -> int:
    """The gate: load, synthesize, check, report. Returns the exit code."""
    import amaxcheck
    from . import loading
    from .output import reporting
    from .verdict.checks import validate_reference

    console = _Console(bool(opts.quiet))
    notes = list(opts.project.notes)
    for note in notes:
        if not opts.quiet:
            print(f"amaxcheck: note: {note}", file=sys.stderr)
    loaded = _load_inputs(opts, console, debug=debug)
    input_shape, n_classes = _model_facts(loaded.model)
    if loaded.labels is not None and len(loaded.labels) != n_classes:
        raise ConfigError(f"--labels {opts.labels!r} has {len(loaded.labels)} names but the model has {n_classes} "
                          "classes; give exactly one name per class, in class-index order")
    ref_x = ref_y = None
    if opts.values.get("reference"):
        if loaded.reference is None:
            ref_x, ref_y = read_reference_folder(opts.reference, input_shape, opts.input_range, loaded.labels, n_classes)
        else:
            ref_x, ref_y = loaded.reference
        try:
            ref_x, ref_y = validate_reference(ref_x, ref_y, input_shape, opts.input_range, n_classes)
        except ReferenceDataError as exc:
            raise ReferenceDataError(f"--reference {opts.reference!r}: {exc}") from exc
    if opts.top_k > n_classes:
        raise ConfigError(f"--top-k {opts.top_k} exceeds the model's {n_classes} classes")

    classes = _resolve_class_items(opts.classes, loaded.labels)
    console.status(f"synthesizing ideal inputs ({opts.restarts} restarts x {opts.steps} steps per class) ...")
    result = amaxcheck.synthesize(loaded.model, classes, restarts=opts.restarts, steps=opts.steps, seed=opts.seed,
                                  input_range=opts.input_range, labels=loaded.labels,
                                  progress=False if opts.quiet else None)
    console.status("checking (controls, perturbations) ...")
    report = amaxcheck.check(result, loaded.model, reference=ref_x, reference_labels=ref_y,
                             min_confidence=opts.min_confidence, top_k=opts.top_k,
                             max_degeneracy=opts.max_degeneracy)

    settings = dict(result.settings)
    settings.update({
        "labels": opts.values.get("labels"), "reference": opts.values.get("reference"),
        "reference_size": None if ref_x is None else int(len(ref_x)),
        "config": None if opts.project.path is None else str(opts.project.path),
    })
    model_info = {
        "path": str(opts.model), "sha256": loading.sha256_of(opts.model), "input_shape": list(result.input_shape),
        "n_classes": int(result.n_classes), "name": result.model_name, "format": loaded.kind,
        "fingerprint": result.model_fingerprint, "logits_source": result.logits_source,
    }
    gate_info = {"command": ["amaxcheck", *argv], "wall_time_s": round(time.perf_counter() - started, 3),
                 "notes": notes}
    extras = reporting.gate_extras(model=model_info, settings=settings, gate=gate_info)

    artifacts_dir = opts.values.get("artifacts")
    if artifacts_dir:
        from .output.artifacts import write_artifacts

        _writing("--artifacts", artifacts_dir, lambda: write_artifacts(report, artifacts_dir, summary_extra=extras))
    doc = reporting.build_document(report, extras)
    if artifacts_dir:  # summary.json is the gate document (strict JSON, image paths included)
        _writing("--artifacts", artifacts_dir, lambda: reporting.write_json(doc, Path(artifacts_dir) / "summary.json"))

    console.out(reporting.verdict_line(doc) if opts.quiet else reporting.terminal_table(doc))
    written = []
    for flag, key, write in (("--json", "json", reporting.write_json), ("--junit-xml", "junit_xml", reporting.write_junit),
                             ("--markdown", "markdown", reporting.write_markdown)):
        target = opts.values.get(key)
        if target:
            written.append(f"{flag[2:]} {_writing(flag, target, lambda w=write, t=target: w(doc, t))}")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        summary = os.environ["GITHUB_STEP_SUMMARY"]
        _writing("$GITHUB_STEP_SUMMARY", summary, lambda: reporting.append_step_summary(reporting.markdown(doc)))
        written.append(f"step summary {summary}")
    if artifacts_dir:
        written.append(f"artifacts {artifacts_dir}")
    if written and not opts.quiet:
        print("wrote " + "; ".join(written), file=sys.stderr)
    return EXIT_PASS if doc["passed"] else EXIT_FAIL


def _writing(flag: str, target: Any, write) -> Any:
    """Run ``write()``; turn an OSError into a :class:`ConfigError` naming the flag and path."""
    try:
        return write()
    except OSError as exc:
        raise ConfigError(f"cannot write {flag} {str(target)!r}: {exc.strerror or exc}") from exc


def run_show(opts: Options, *, debug: bool) -> int:
    """Synthesize one class and save its best restart as an upscaled PNG (and optionally the ascent as a GIF)."""
    import amaxcheck
    from ._atomic import atomic_write_bytes
    from .output.artifacts import save_png, to_uint8, upscale

    console = _Console(bool(opts.quiet))
    loaded = _load_inputs(opts, console, debug=debug)
    _, n_classes = _model_facts(loaded.model)
    if loaded.labels is not None and len(loaded.labels) != n_classes:
        raise ConfigError(f"--labels {opts.labels!r} has {len(loaded.labels)} names but the model has {n_classes} classes")
    items = _resolve_class_items(parse_classes(opts.cls), loaded.labels)
    if items == "all" or len(items) != 1:
        raise ConfigError(f"--class takes one class (an index or a label), got {opts.cls!r}")
    kwargs = dict(restarts=opts.restarts, seed=opts.seed, input_range=opts.input_range, labels=loaded.labels)
    result = amaxcheck.synthesize(loaded.model, items, steps=opts.steps, progress=False if opts.quiet else None, **kwargs)
    view = next(iter(result))
    image = upscale(to_uint8(view.best_image[None], result.input_range)[0], opts.size)
    _writing("-o", opts.output, lambda: save_png(opts.output, image))
    message = (f"class {view.index} ({view.label}): p={float(view.confidence[view.best]):.3f} "
               f"(best of {len(view.images)} restarts) -> {opts.output}")
    if opts.values.get("gif"):
        console.status("rendering the ascent as a GIF ...")
        data = ascent_gif(loaded.model, items, steps=opts.steps, best=view.best, size=opts.size, **kwargs)
        _writing("--gif", opts.gif, lambda: atomic_write_bytes(opts.gif, data))
        message += f", ascent -> {opts.gif}"
    console.out(message)
    return EXIT_PASS


def ascent_gif(model: Any, classes: Any, *, steps: int, best: int, size: int, **kwargs: Any) -> bytes:
    """An animated GIF of one sample's ascent at steps 0, 1, 2, 4, ... ``steps``.

    Each frame is a fresh :func:`amaxcheck.synthesize` run stopped after k steps.
    Per-sample random streams make a k-step run an exact prefix of the full run,
    so the frames are the real trajectory (best iterate so far). Cost: about
    twice one run, since the frame lengths double.
    """
    import io

    import amaxcheck

    marks = sorted({min(steps, 2 ** i) for i in range(0, max(1, steps).bit_length() + 1)})
    frames = []
    for k in marks:
        res = amaxcheck.synthesize(model, classes, steps=k, progress=False, **kwargs)
        view = next(iter(res))
        if not frames and res.initial_images is not None:
            frames.append(_frame(res.initial_images[best], res.input_range, size, "step 0"))
        frames.append(_frame(view.images[best], res.input_range, size, f"step {k}  p={float(view.confidence[best]):.2f}"))
    buf = io.BytesIO()
    durations = [400] * (len(frames) - 1) + [1500]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def _frame(image: Any, input_range: Sequence[float], size: int, caption: str) -> Any:
    """One GIF frame: the upscaled image with a caption strip under it."""
    import numpy as np
    from PIL import Image, ImageDraw

    from .output.artifacts import to_uint8, upscale

    tile = upscale(to_uint8(image[None], input_range)[0], size)
    rgb = np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile
    canvas = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + 14), "white")
    canvas.paste(Image.fromarray(rgb), (0, 0))
    ImageDraw.Draw(canvas).text((2, rgb.shape[0] + 1), caption, fill="black")
    return canvas


# --------------------------------------------------------------------------- entry point
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``amaxcheck`` with ``argv`` and return the exit code.

    Called with no ``argv`` (the console script), it ends the process itself
    once TensorFlow is loaded: output is flushed and files are already closed
    (every write is atomic), and skipping TensorFlow's interpreter teardown
    saves one to three seconds per gate run.
    """
    if argv is None:
        code = _main(list(sys.argv[1:]))
        _fast_exit(code)
        return code
    return _main(list(argv))


def _fast_exit(code: int) -> None:
    if "tensorflow" not in sys.modules or os.environ.get("AMAXCHECK_SLOW_EXIT"):
        return
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _main(argv: list[str]) -> int:
    started = time.perf_counter()
    debug = "--debug" in argv
    try:
        ns = build_parser().parse_args(argv)
        debug = bool(ns.debug)
        project = load_defaults()
        opts = resolve_options(ns, project)
        if ns.command == "gate":
            return run_gate(opts, argv, started, debug=debug)
        return run_show(opts, debug=debug)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_ERROR
    except KeyboardInterrupt:
        print("amaxcheck: interrupted", file=sys.stderr)
        return 130
    except (AmaxcheckError, ValueError, OSError) as exc:
        return _fail(exc, debug)
    except Exception as exc:  # a bug: still exit 2 with one line, traceback on --debug
        return _fail(exc, debug, unexpected=True)


def _fail(exc: BaseException, debug: bool, unexpected: bool = False) -> int:
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and exc.filename not in text:
        text = f"{text}: {exc.filename!r}"
    if unexpected or not isinstance(exc, AmaxcheckError):
        text = f"{type(exc).__name__}: {text}"
    hint = "" if debug else " (rerun with --debug for the traceback)" if unexpected else ""
    print(f"amaxcheck: error: {text}{hint}", file=sys.stderr, flush=True)
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
