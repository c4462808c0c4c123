"""The ``amaxcheck`` command: a pre-deployment gate for Keras image classifiers.

    amaxcheck gate MODEL [--labels FILE] [--classes all|0,3,7|name,name]
                   [--reference FILE.npz|FOLDER] [--input-range LO,HI]
                   [--steps N] [--restarts R] [--seed S] [--stop-plateau N|off] [--devices all|NAME,NAME]
                   [--min-confidence P] [--top-k K] [--max-degeneracy D]
                   [--min-naturalness N] [--strict] [--head auto|softmax|binary|multilabel]
                   [--triggers [--trigger-steps N]]
                   [--json PATH] [--junit-xml PATH] [--markdown PATH] [--html PATH]
                   [--artifacts DIR] [--unsafe] [--quiet] [--debug]
                   [--output NAME] [--input NAME --fixed-inputs FILE.npz] [--shard K/N]
    amaxcheck merge PART... [--json PATH] [--junit-xml PATH] [--markdown PATH] [--html PATH] [--artifacts DIR]
    amaxcheck show MODEL --class C -o out.png [--gif [out.gif]] [--model-output NAME]
    amaxcheck show MODEL --layer NAME [--units all|3,5] -o grid.png

Exit codes: 0 the gate passed, 1 it failed (some check failed), 2 it could not
run (bad arguments, unreadable or unsafe model, bad reference data, unwritable
output): one line on stderr, no traceback unless ``--debug``; 130 interrupted
(Ctrl-C: "amaxcheck: interrupted", nothing written).

Everything that can be checked without TensorFlow (arguments, output paths,
labels, the reference file, the model file's format and safety) is checked
first, so mistakes fail in well under a second.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from . import _validate as V
from . import defaults as D
from ._interrupt import InterruptGuard
from ._tfquiet import native_stderr_captured, quiet_tensorflow_logging
from .errors import AmaxcheckError, ConfigError, ReferenceDataError
from .inputs import read_fixed_inputs, read_labels, read_reference_folder, read_reference_npz
from .output.gif import ascent_gif
from .output.text import terminal_text
from .pyproject import ProjectDefaults, load_defaults

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The gate's defaults, from :mod:`amaxcheck.defaults` (the same as the API's).
DEFAULTS: dict[str, Any] = {
    "classes": "all", "steps": D.STEPS, "restarts": D.RESTARTS, "seed": D.SEED,
    "input_range": ",".join(repr(v) for v in D.INPUT_RANGE), "min_confidence": D.MIN_CONFIDENCE, "top_k": D.TOP_K,
    "max_degeneracy": D.MAX_DEGENERACY, "min_naturalness": D.MIN_NATURALNESS, "strict": D.STRICT, "quiet": False,
    "triggers": False, "trigger_steps": D.TRIGGER_STEPS, "stop_plateau": D.STOP_PLATEAU,
    "head": D.HEAD,
}
_SHOW_KEYS = ("model", "labels", "input_range", "steps", "restarts", "seed", "stop_plateau", "quiet", "model_output", "input",
              "fixed_inputs", "head", "devices")


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
def _argument(convert: Callable[[str], Any], validate: Callable[[Any], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert`` the text, then ``validate`` it with :mod:`amaxcheck._validate`."""
    def parse(text: str) -> Any:
        try:
            value: Any = convert(text)
        except ValueError:
            value = text
        try:
            return validate(value)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value must be", "expected")) from None
    parse.__name__ = name
    return parse


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], Any]:
    return _argument(int, lambda v: V.integer(v, "value", minimum, maximum), f"integer >= {minimum}")


_probability = _argument(float, lambda v: V.probability(v, "value"), "probability")


def parse_input_range(text: str) -> tuple[float, float]:
    """``"LO,HI"`` to ``(lo, hi)``; raises :class:`ConfigError` unless two finite float32 numbers with lo < hi."""
    return V.input_range(str(text), "--input-range")


def parse_classes(text: str) -> Any:
    """``"all"``, or a comma list of indices and/or labels (digits-only items are indices unless they are labels)."""
    text = str(text).strip()
    if text == "all":
        return "all"
    items = [p.strip() for p in text.split(",")]
    if not text or any(not p for p in items):
        raise ConfigError(f"--classes must be 'all' or a comma list like 0,3,7 or cat,dog, got {text!r}")
    return items


def _resolve_class_items(items: Any, labels: list[str] | None) -> Any:
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
    sub = parser.add_subparsers(dest="command", metavar="{gate,show,merge}")
    sub.required = True

    common = _Parser(add_help=False)
    common.add_argument("model", nargs="?", metavar="MODEL",
                        help=".keras file, legacy .h5 file, SavedModel folder (needs --unsafe), or module:function")
    common.add_argument("--labels", metavar="FILE", help="class names: a text file, one per line, or a JSON list")
    common.add_argument("--input-range", metavar="LO,HI", help="the model's raw input range (default 0,1)")
    common.add_argument("--steps", type=_int_at_least(1), metavar="N", help="ascent steps per sample (default 256)")
    common.add_argument("--restarts", type=_int_at_least(1), metavar="R", help=f"starts per class (default {D.RESTARTS})")
    common.add_argument("--seed", type=_int_at_least(0), metavar="S", help="random seed (default 0)")
    common.add_argument("--stop-plateau", type=_argument(str, lambda v: V.stop_plateau_option(v, "value"), "steps or off"), metavar="N|off",
                        help=f"stop a sample once its objective has not risen by {D.PLATEAU_TOL} for N steps "
                             f"(default {D.STOP_PLATEAU}); off runs every sample all --steps")
    common.add_argument("--unsafe", action="store_true",
                        help="allow loads that can run code from the model file (Lambda layers, SavedModel graphs)")
    common.add_argument("--input", metavar="NAME",
                        help="multi-input models: the input to synthesize (name or index); the others come from "
                             "--fixed-inputs")
    common.add_argument("--fixed-inputs", metavar="FILE.npz",
                        help="multi-input models: one example for each input not synthesized, keyed by input name")
    common.add_argument("--model-output", dest="model_output", metavar="NAME",
                        help="multi-output models: the output holding the class scores (name or index)")
    common.add_argument("--head", choices=D.HEADS, metavar="KIND",
                        help="what the class scores mean: auto (read from the model; default), softmax, binary "
                             "(one sigmoid unit: classes 0 and 1) or multilabel (independent sigmoids)")
    common.add_argument("--devices", type=_argument(str, lambda v: V.devices(v, "--devices"), "devices"),
                        metavar="all|NAME,NAME",
                        help="spread the ascent's batch over these devices (tf.distribute.MirroredStrategy): all "
                             "(every GPU, else every CPU device) or names like /gpu:0,/gpu:1; same results "
                             "(default: TensorFlow's own placement)")
    common.add_argument("--quiet", action="store_true", default=None, help="no progress, table or notes; only the verdict line")
    common.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's own log lines")

    gate = sub.add_parser("gate", parents=[common], help="synthesize every class's ideal input, check it, exit 0/1/2",
                          description="Exit 0 if every check passes, 1 if one fails, 2 if the gate cannot run. "
                                      "Defaults come from [tool.amaxcheck] in the nearest pyproject.toml.")
    gate.add_argument("--classes", metavar="all|0,3,7|name,name", help="classes to check (default all)")
    gate.add_argument("--output", dest="model_output", metavar="NAME",
                      help="multi-output models: the output holding the class scores (name or index; "
                           "same as --model-output)")
    gate.add_argument("--reference", metavar="FILE.npz|FOLDER",
                      help=".npz with x (raw input range) and optional integer y, or a folder of images in class sub-folders")
    gate.add_argument("--min-confidence", type=_probability, metavar="P", help="required target probability (default 0.9)")
    gate.add_argument("--top-k", type=_int_at_least(1), metavar="K", help="target must rank in the top K (default 1)")
    gate.add_argument("--max-degeneracy", type=_probability, metavar="D",
                      help="a class fails above this degeneracy (default 0.5)")
    gate.add_argument("--min-naturalness", type=_probability, metavar="N",
                      help="a class fails below this naturalness (default 0: reported, not enforced)")
    gate.add_argument("--strict", action="store_true", default=None,
                      help="an inconclusive verdict fails the gate (default: passes with a warning)")
    gate.add_argument("--triggers", action="store_true", default=None,
                      help="also reverse each class's smallest backdoor trigger on the --reference images (Neural "
                           "Cleanse) and fail when one class is an outlier")
    gate.add_argument("--trigger-steps", type=_int_at_least(1), metavar="N",
                      help=f"most optimization steps per class of --triggers (default {D.TRIGGER_STEPS})")
    gate.add_argument("--json", metavar="PATH", help="write the gate JSON document")
    gate.add_argument("--junit-xml", metavar="PATH", help="write JUnit XML (one testcase per class x check)")
    gate.add_argument("--markdown", metavar="PATH", help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY)")
    gate.add_argument("--html", metavar="PATH", help="write one self-contained HTML report (images inline, no server)")
    gate.add_argument("--artifacts", metavar="DIR", help="write PNGs, a labelled grid, the arrays and the JSON here")
    gate.add_argument("--shard", metavar="K/N",
                      help="run shard K of N (1-based): every N-th of the selected classes, from the K-th; writes a "
                           "partial report for amaxcheck merge")
    gate.add_argument("--layer", help=argparse.SUPPRESS)  # refused with a pointer to `show --layer`
    gate.add_argument("--units", help=argparse.SUPPRESS)

    show = sub.add_parser("show", parents=[common], help="save one class's ideal input (or a layer's filter grid) "
                                                          "as an upscaled PNG")
    show.add_argument("--class", dest="cls", metavar="C", help="class index or label")
    show.add_argument("--layer", metavar="NAME",
                      help="instead of a class: the filter grid of this layer (Conv2D, pooling), one tile per unit "
                           "(its best restart), the unit index under each tile")
    show.add_argument("--units", metavar="all|3,5", help="with --layer: the units to draw (default all)")
    show.add_argument("-o", "--output", required=True, metavar="PNG", help="where to write the PNG")
    show.add_argument("--size", type=_int_at_least(8), default=256, metavar="PX",
                      help="upscale (nearest neighbour) until the shorter side is at least PX (default 256; "
                           "--layer grids use 96 px tiles)")
    show.add_argument("--gif", nargs="?", const="", metavar="GIF",
                      help="also write the ascent as an animated GIF (default: the PNG path with .gif)")
    merge = sub.add_parser("merge", help="combine the partial reports of a gate run with --shard K/N into the report "
                                         "one run would have written; exit 0/1/2 as the gate",
                           description="Exit 0 if the merged gate passes, 1 if it fails, 2 if the parts do not make "
                                       "one run (another model or settings, a shard twice or missing).")
    merge.add_argument("parts", nargs="+", metavar="PART",
                       help="a shard's --json file, or its --artifacts folder (its summary.json is the part)")
    merge.add_argument("--json", metavar="PATH", help="write the merged gate JSON document")
    merge.add_argument("--junit-xml", metavar="PATH", help="write JUnit XML (one testcase per class x check)")
    merge.add_argument("--markdown", metavar="PATH", help="write a Markdown summary (also appended to "
                                                          "$GITHUB_STEP_SUMMARY)")
    merge.add_argument("--html", metavar="PATH", help="write the HTML report (every shard must have run with --html)")
    merge.add_argument("--artifacts", metavar="DIR", help="copy each class's PNG and arrays from the shards' "
                                                          "--artifacts folders here, with the grid and summary.json")
    merge.add_argument("--quiet", action="store_true", help="no table or notes; only the verdict line")
    merge.add_argument("--debug", action="store_true", help="show tracebacks")
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
    _check_steps_limit(values["steps"], "steps" in given, project)
    values["ascent"] = ascent_config(values)
    if ns.command == "gate":
        if values.get("layer") or values.get("units"):
            raise ConfigError("the gate checks classes and gives a model verdict, which a layer visualization does "
                              "not have; draw a layer's filter grid with: amaxcheck show MODEL --layer NAME "
                              "--units all -o grid.png")
        values["classes"] = parse_classes(values["classes"])
        if values.get("shard"):
            from .output.merge import parse_shard

            values["shard"] = parse_shard(values["shard"])
        for flag, key, folder in (("--json", "json", False), ("--junit-xml", "junit_xml", False),
                                  ("--markdown", "markdown", False), ("--html", "html", False),
                                  ("--artifacts", "artifacts", True)):
            if values.get(key):
                check_writable(values[key], flag, folder=folder)
    else:
        values["units"] = _show_target(values)
        check_writable(values["output"], "-o", folder=False)
        if values.get("gif") == "":
            values["gif"] = str(Path(values["output"]).with_suffix(".gif"))
        if values.get("gif"):
            check_writable(values["gif"], "--gif", folder=False)
    check_output_paths(ns.command, values)
    return Options(ns.command, values, project)


def _show_target(values: dict[str, Any]) -> Any:
    """``show`` draws one class (``--class``) or a layer's units (``--layer``); return the parsed ``--units``."""
    if values.get("cls") is not None and values.get("layer") is not None:
        raise ConfigError("--class and --layer are mutually exclusive: --class draws one class's ideal input, "
                          "--layer the filter grid of a layer's units; pass one of them")
    if values.get("layer") is None:
        if values.get("units") is not None:
            raise ConfigError("--units picks units of a layer; say which layer with --layer NAME")
        if values.get("cls") is None:
            raise ConfigError("show needs --class C (one class's ideal input) or --layer NAME (a layer's filter grid)")
        return None
    if values.get("gif") is not None:
        raise ConfigError("--gif animates one class's ascent; it does not apply to --layer (drop --gif)")
    return parse_units(values.get("units") or "all")


def parse_units(text: str) -> Any:
    """``"all"`` or a comma list of unit indices (``3,5``) to ``"all"`` or a list of ints."""
    text = str(text).strip()
    if text == "all":
        return "all"
    items = [p.strip() for p in text.split(",")]
    if not text or not all(p.isdigit() for p in items):
        raise ConfigError(f"--units must be 'all' or a comma list of unit indices like 3,5, got {text!r}")
    return [int(p) for p in items]


def _check_steps_limit(steps: int, from_flag: bool, project: ProjectDefaults) -> None:
    """Refuse ``steps`` over :data:`~amaxcheck.ascent.config.MAX_STEPS` in one line naming where it was set."""
    from .ascent.config import MAX_STEPS

    if steps <= MAX_STEPS:
        return
    where = f"--steps {steps}" if from_flag else f"steps = {steps} in {project.path} [tool.amaxcheck]"
    fix = f"pass --steps {MAX_STEPS} or fewer" if from_flag else f"set steps to {MAX_STEPS} or fewer"
    raise ConfigError(f"{where} is over amaxcheck's limit of {MAX_STEPS} steps per sample; {fix} "
                      f"(the default, {D.STEPS}, suits most models)")


def check_output_paths(command: str, values: dict[str, Any]) -> None:
    """Refuse outputs that would overwrite an input, each other, or a file amaxcheck did not write.

    See :mod:`amaxcheck.output.guard` for the rules; raises :class:`ConfigError`.
    """
    from .loading import is_module_function
    from .output.artifacts import ARTIFACT_NAMES, check_artifact_folder
    from .output.guard import Input, Output, check_outputs

    model = str(values["model"])
    inputs = [Input(flag, str(values[key])) for flag, key in (("--labels", "labels"), ("--reference", "reference"))
              if values.get(key)]
    if not is_module_function(model):
        inputs.insert(0, Input("MODEL", model))
    flags = ((("--json", "json", "json"), ("--junit-xml", "junit_xml", "junit"), ("--markdown", "markdown", "markdown"),
              ("--html", "html", "html"), ("--artifacts", "artifacts", "folder")) if command == "gate"
             else (("-o", "output", "png"), ("--gif", "gif", "gif")))
    outputs = [Output(flag, str(values[key]), kind) for flag, key, kind in flags if values.get(key)]
    check_outputs(outputs, inputs, ARTIFACT_NAMES)
    if command == "gate" and values.get("artifacts"):
        check_artifact_folder(values["artifacts"])


def ascent_config(values: dict[str, Any]) -> Any:
    """The :class:`~amaxcheck.ascent.config.AscentConfig` of a command (validated before TensorFlow loads)."""
    from .ascent.config import AscentConfig

    fixed: Any = read_fixed_inputs(values["fixed_inputs"]) if values.get("fixed_inputs") else None  # frozen by the config
    return AscentConfig(restarts=values["restarts"], steps=values["steps"], seed=values["seed"],
                        stop_plateau=V.stop_plateau(values.get("stop_plateau", D.STOP_PLATEAU), "--stop-plateau"),
                        input_range=values["input_range"], input=_name_or_index(values.get("input")),
                        output=_name_or_index(values.get("model_output")), fixed_inputs=fixed, head=values.get("head", D.HEAD),
                        devices=values.get("devices"))


def _name_or_index(value: Any) -> str | int | None:
    """An ``--input``/``--output`` value: digits are an index, anything else a name."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else text


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
    if where.exists() and _read_only_fs(where):
        raise ConfigError(f"{flag} {path!r} cannot be written: {str(where)!r} is on a read-only file system; "
                          "give a path on a writable file system")
    if where.exists() and not os.access(where, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path!r} cannot be written: no permission to write in {str(where)!r}")


def _read_only_fs(path: Path) -> bool:
    """True when ``path`` is on a file system mounted read-only (``statvfs``'s ``ST_RDONLY``)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): the write itself reports EROFS
        return False


# --------------------------------------------------------------------------- running
class _Console:
    """stdout for results, stderr for status lines (only on a terminal) and errors."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def status(self, message: str) -> None:
        if (self.tty or os.environ.get("AMAXCHECK_STATUS") == "1") and not self.quiet:
            print(f"amaxcheck: {message}", file=sys.stderr, flush=True)

    def out(self, text: str) -> None:
        print(text, flush=True)


@dataclass
class _Loaded:
    model: Any
    labels: list[str] | None
    reference: tuple[Any, Any] | None
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
        quiet_tensorflow_logging()
    with native_stderr_captured(not debug):
        import tensorflow  # noqa: F401  (its import-time log lines are held back)

        model = loading.load_model(opts.model, unsafe=bool(opts.values.get("unsafe")))
    return _Loaded(model, labels, reference, kind)


def _model_facts(model: Any, config: Any) -> tuple[tuple[int, ...], int, str]:
    """Input shape (without batch), number of classes and head, as the engine will see them (``config``'s settings)."""
    from .ascent.engine import adapter_for

    adapter = adapter_for(model, config)
    return tuple(adapter.input_shape), int(adapter.n_classes), str(adapter.head)


def run_gate(opts: Options, argv: Sequence[str], started: float, *, debug: bool) -> int:
    """The gate: load, synthesize, check, report. Returns the exit code."""
    import amaxcheck

    from .timings import Timings

    timings = Timings(started=started)
    console = _Console(bool(opts.quiet))
    notes = list(opts.project.notes)
    for note in notes:
        if not opts.quiet:
            print(f"amaxcheck: note: {note}", file=sys.stderr)
    with timings.stage("load"):
        loaded = _load_inputs(opts, console, debug=debug)
        input_shape, n_classes, head = _model_facts(loaded.model, opts.ascent)
        if loaded.labels is not None and len(loaded.labels) != n_classes:
            raise ConfigError(f"--labels {opts.labels!r} has {len(loaded.labels)} names but the model has "
                              f"{n_classes} classes; give exactly one name per class, in class-index order")
        ref_x, ref_y = _reference(opts, loaded, input_shape, n_classes, head)
        if opts.top_k > n_classes:
            raise ConfigError(f"--top-k {opts.top_k} exceeds the model's {n_classes} classes")
        classes = _resolve_class_items(opts.classes, loaded.labels)
        shard = _shard_plan(opts, classes, n_classes, loaded.labels)
        if shard is not None:
            classes = shard.classes
    console.status(f"synthesizing ideal inputs ({opts.restarts} restarts x {opts.steps} steps per class) ...")
    with timings.stage("synthesis"):
        result = amaxcheck.synthesize(loaded.model, classes, config=opts.ascent, labels=loaded.labels,
                                      progress=False if opts.quiet else None, timings=timings)
    console.status("checking (controls, perturbations) ...")
    report = amaxcheck.check(result, loaded.model, reference=ref_x, reference_labels=ref_y,
                             min_confidence=opts.min_confidence, top_k=opts.top_k,
                             max_degeneracy=opts.max_degeneracy, min_naturalness=opts.min_naturalness,
                             timings=timings, triggers=_trigger_settings(opts, ref_x, console))
    extras = _gate_extras(opts, loaded, result, ref_x, argv, started, notes)
    with timings.stage("outputs"):
        doc = _write_outputs(opts, report, extras, console, (ref_x, ref_y), timings=timings, shard=shard)
    strict = " (--strict: the gate fails)" if opts.strict else ""
    if doc.get("verdict") == "inconclusive" and not opts.quiet:
        print(f"amaxcheck: warning: the verdict is inconclusive{strict}: {'; '.join(doc.get('reasons', [])[-1:])}",
              file=sys.stderr)
    trig = doc.get("triggers") or {}
    if trig.get("outcome") == "inconclusive" and not opts.quiet:
        print(f"amaxcheck: warning: the trigger check is inconclusive{strict}: {'; '.join(trig.get('reasons', []))}",
              file=sys.stderr)
    return EXIT_PASS if doc["passed"] else EXIT_FAIL


def _trigger_settings(opts: Options, ref_x: Any, console: _Console) -> Any:
    """``--triggers``: the reversal's settings (seeded by ``--seed``), or False; needs ``--reference``."""
    if not opts.values.get("triggers"):
        return False
    if ref_x is None:
        raise ReferenceDataError("--triggers reverses each class's trigger on real images, and no --reference was "
                                 "given: pass --reference FILE.npz (images in the model's input range; labels are "
                                 "optional), or drop --triggers")
    from .ascent.triggers import TriggerSettings

    settings = TriggerSettings(steps=opts.trigger_steps, seed=opts.seed)
    console.status(f"reversing triggers (up to {settings.steps} steps per class on {len(ref_x)} reference images) ...")
    return settings


@dataclass
class _Shard:
    """``--shard K/N``: this shard's classes (every N-th of the selected, ordered list, from the K-th) and that list."""

    index: int
    total: int
    classes: list[int]
    all_classes: list[int]


def _shard_plan(opts: Options, classes: Any, n_classes: int, labels: list[str] | None) -> _Shard | None:
    """The classes of ``--shard K/N`` (None without it): ``all_classes[i]`` with ``i % N == K - 1``."""
    if not opts.values.get("shard"):
        return None
    from .ascent.engine import resolve_classes

    index, total = opts.shard
    selected = resolve_classes(classes, n_classes, labels)
    mine = [c for i, c in enumerate(selected) if i % total == index - 1]
    if not mine:
        raise ConfigError(f"--shard {index}/{total} selects no class: only {len(selected)} classes are checked, so "
                          f"at most {len(selected)} shards have work; pass --shard K/{len(selected)} or fewer shards")
    return _Shard(index, total, mine, list(selected))


def _reference(opts: Options, loaded: _Loaded, input_shape: tuple[int, ...], n_classes: int,
               head: str) -> tuple[Any, Any]:
    """``--reference`` as validated arrays ``(x, y)``, or ``(None, None)``."""
    from .verdict.checks import validate_reference

    if not opts.values.get("reference"):
        return None, None
    if loaded.reference is None:
        ref_x, ref_y = read_reference_folder(opts.reference, input_shape, opts.input_range, loaded.labels, n_classes)
    else:
        ref_x, ref_y = loaded.reference
    try:
        return validate_reference(ref_x, ref_y, input_shape, opts.input_range, n_classes, head)
    except ReferenceDataError as exc:
        raise ReferenceDataError(f"--reference {opts.reference!r}: {exc}") from exc


def _gate_extras(opts: Options, loaded: _Loaded, result: Any, ref_x: Any, argv: Sequence[str], started: float,
                 notes: list[str]) -> dict[str, Any]:
    """What the gate adds to the report's JSON: the model, the settings, the command."""
    from . import loading
    from .output import reporting

    settings = dict(result.settings)
    settings.update({
        "labels": opts.values.get("labels"), "reference": opts.values.get("reference"),
        "reference_size": None if ref_x is None else len(ref_x),
        "config": None if opts.project.path is None else str(opts.project.path),
    })
    model_info = {
        "path": str(opts.model), "sha256": loading.sha256_of(opts.model), "input_shape": list(result.input_shape),
        "n_classes": int(result.n_classes), "name": result.model_name, "format": loaded.kind,
        "fingerprint": result.model_fingerprint, "logits_source": result.logits_source, "head": result.head,
    }
    gate_info = {"command": ["amaxcheck", *argv], "wall_time_s": round(time.perf_counter() - started, 3),
                 "notes": notes}
    return reporting.gate_extras(model=model_info, settings=settings, gate=gate_info)


def _write_outputs(opts: Options, report: Any, extras: dict[str, Any], console: _Console,
                   reference: tuple[Any, Any], *, timings: Any = None, shard: _Shard | None = None) -> dict[str, Any]:
    """Artifacts, the terminal table, --json/--junit-xml/--markdown/--html and the step summary; returns the document.

    The documents' ``timings`` are taken once the artifacts and the HTML page are made (the slow outputs), just
    before the documents themselves are written; ``summary.json`` in the artifacts folder is the same document.
    """
    from .output import reporting
    from .output.figures import class_figures
    from .output.html import report_html

    artifacts_dir = opts.values.get("artifacts")
    written_files: dict[str, Any] = {}
    if artifacts_dir:  # also writes summary.json: the gate document, image paths included
        from .output.artifacts import write_artifacts

        written_files = _writing("--artifacts", artifacts_dir,
                                 lambda: write_artifacts(report, artifacts_dir, summary_extra=extras))
    ref_x, ref_y = reference
    figures = None
    if opts.values.get("html"):
        figures = class_figures(report, reference=ref_x, reference_labels=ref_y)
    doc = reporting.build_document(report, extras, strict=bool(opts.strict))
    if shard is not None:
        from .output.merge import shard_section

        doc["shard"] = shard_section(report, shard.index, shard.total, shard.classes, shard.all_classes,
                                     artifacts=artifacts_dir, figures=figures)
    page = report_html(doc, figures) if figures is not None else None
    if timings is not None:
        doc["timings"] = timings.as_dict()
    console.out(reporting.verdict_line(doc) if opts.quiet else reporting.terminal_table(doc))
    if doc.get("timings") and not opts.quiet:  # the numbers the documents hold
        from .timings import line

        print(f"amaxcheck: {line(doc['timings'])}", file=sys.stderr)
    if shard is not None and not opts.quiet:
        print(f"amaxcheck: shard {shard.index}/{shard.total}: {len(shard.classes)} of {len(shard.all_classes)} "
              "classes; the verdict and exit code judge these classes only: combine the parts with "
              "amaxcheck merge PART.json...", file=sys.stderr)
    if written_files.get("summary"):
        _writing("--artifacts", artifacts_dir, lambda: reporting.write_json(doc, written_files["summary"]))
    written = write_documents(doc, opts.values, lambda d: page or "")
    if written and not opts.quiet:
        print("wrote " + "; ".join(written), file=sys.stderr)
    return doc


def write_documents(doc: dict[str, Any], values: Mapping[str, Any], page: Callable[[dict[str, Any]], str]) -> list[str]:
    """``--json``, ``--junit-xml``, ``--markdown``, ``--html`` (``page(doc)``) and the step summary of one document.

    The gate and merge both write through here; returns what was written, for the one ``wrote ...`` line.
    """
    from .output import reporting
    from .output.html import write_html

    written = []
    for flag, key, write in (("--json", "json", reporting.write_json), ("--junit-xml", "junit_xml", reporting.write_junit),
                             ("--markdown", "markdown", reporting.write_markdown),
                             ("--html", "html", lambda d, t: write_html(t, page(d)))):
        target = values.get(key)
        if target:
            written.append(f"{flag[2:]} {_writing(flag, target, lambda w=write, t=target: w(doc, t))}")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        summary = os.environ["GITHUB_STEP_SUMMARY"]
        _writing("$GITHUB_STEP_SUMMARY", summary, lambda: reporting.append_step_summary(reporting.markdown(doc)))
        written.append(f"step summary {summary}")
    if values.get("artifacts"):
        written.append(f"artifacts {values['artifacts']}")
    return written


def _writing(flag: str, target: Any, write) -> Any:
    """Run ``write()``; turn an OSError into a :class:`ConfigError` naming the flag and path."""
    try:
        return write()
    except OSError as exc:
        raise ConfigError(write_error_message(flag, target, exc)) from exc


def write_error_message(flag: str, target: Any, exc: OSError) -> str:
    """The one-line message for a failed write: a read-only file system is said so, with the fix."""
    if exc.errno == errno.EROFS:
        return (f"cannot write {flag} {str(target)!r}: read-only file system; give a path on a writable "
                "file system")
    return f"cannot write {flag} {str(target)!r}: {exc.strerror or exc}"


def run_merge(ns: argparse.Namespace, argv: Sequence[str]) -> int:
    """``amaxcheck merge``: the parts of a sharded gate, checked and combined, written as one run writes them."""
    from .output import reporting
    from .output.artifacts import ARTIFACT_NAMES, check_artifact_folder
    from .output.guard import Input, Output, check_outputs
    from .output.html import report_html
    from .output.merge import merge_documents, merged_figures, read_part, write_merged_artifacts

    flags = (("--json", "json", "json"), ("--junit-xml", "junit_xml", "junit"), ("--markdown", "markdown", "markdown"),
             ("--html", "html", "html"), ("--artifacts", "artifacts", "folder"))
    values = vars(ns)
    for flag, key, kind in flags:
        if values.get(key):
            check_writable(values[key], flag, folder=kind == "folder")
    check_outputs([Output(flag, str(values[key]), kind) for flag, key, kind in flags if values.get(key)],
                  [Input("PART", str(p)) for p in ns.parts], ARTIFACT_NAMES)
    if values.get("artifacts"):
        check_artifact_folder(values["artifacts"])
    parts = [read_part(p) for p in ns.parts]
    doc = merge_documents(parts, ["amaxcheck", *argv])
    figures = merged_figures(parts) if values.get("html") else None
    if values.get("artifacts"):
        _writing("--artifacts", ns.artifacts, lambda: write_merged_artifacts(doc, parts, ns.artifacts))
    print(reporting.verdict_line(doc) if ns.quiet else reporting.terminal_table(doc), flush=True)
    written = write_documents(doc, values, lambda d: report_html(d, figures))
    if written and not ns.quiet:
        print(f"amaxcheck: merged {len(parts)} parts; wrote " + "; ".join(written), file=sys.stderr)
    return EXIT_PASS if doc["passed"] else EXIT_FAIL


def run_show(opts: Options, *, debug: bool) -> int:
    """Synthesize one class and save its best restart as an upscaled PNG (and optionally the ascent as a GIF)."""
    import amaxcheck

    from ._atomic import atomic_write_bytes
    from .output.artifacts import save_png, to_uint8, upscale

    console = _Console(bool(opts.quiet))
    loaded = _load_inputs(opts, console, debug=debug)
    if opts.values.get("layer") is not None:
        return _show_layer(opts, loaded.model, console)
    _, n_classes, _ = _model_facts(loaded.model, opts.ascent)
    if loaded.labels is not None and len(loaded.labels) != n_classes:
        raise ConfigError(f"--labels {opts.labels!r} has {len(loaded.labels)} names but the model has {n_classes} classes")
    items = _resolve_class_items(parse_classes(opts.cls), loaded.labels)
    if items == "all" or len(items) != 1:
        raise ConfigError(f"--class takes one class (an index or a label), got {opts.cls!r}")
    kwargs = {"restarts": opts.restarts, "seed": opts.seed, "input_range": opts.input_range, "labels": loaded.labels,
              "config": opts.ascent}
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
    console.out(terminal_text(message))
    return EXIT_PASS


def _show_layer(opts: Options, model: Any, console: _Console) -> int:
    """``show --layer``: synthesize the layer's units in one batch and save the filter grid."""
    import numpy as np

    import amaxcheck

    from .output.artifacts import save_png, unit_grid

    result = amaxcheck.synthesize(model, layer=opts.layer, units=opts.units, config=opts.ascent,
                                  progress=False if opts.quiet else None)
    _writing("-o", opts.output, lambda: save_png(opts.output, unit_grid(result)))
    acts = [view.best_activation for view in result.unit_views()]
    console.out(terminal_text(
        f"layer {result.layer}: {len(acts)} units (best of {opts.restarts} restarts each), activation median "
        f"{float(np.median(acts)):.3g} -> {opts.output}"))
    return EXIT_PASS


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``amaxcheck`` with ``argv`` and return the exit code.

    Called with no ``argv`` (the console script), it ends the process itself
    once TensorFlow is loaded: output is flushed and files are already closed
    (every write is atomic), and skipping TensorFlow's interpreter teardown
    saves one to three seconds per gate run.
    """
    if argv is None:
        code = _main(list(sys.argv[1:]), final=True)
        _fast_exit(code)
        return code
    return _main(list(argv))


def _fast_exit(code: int) -> None:
    """End the process now (skipping TensorFlow's teardown), after the clean-up that teardown would have done."""
    if "tensorflow" not in sys.modules or os.environ.get("AMAXCHECK_SLOW_EXIT"):
        return
    import logging

    logging.shutdown()
    remove_autograph_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


_AUTOGRAPH_PREFIX = "__autograph_generated_file"


def remove_autograph_files() -> None:
    """Delete the ``__autograph_generated_file*.py`` modules this process wrote to the temp folder.

    TensorFlow's autograph writes each converted function to a temporary file
    and loads it as a module (``sys.modules[name]``), deleting the file from an
    ``atexit`` hook that ``os._exit`` skips. Only this process's own modules are
    touched (found in ``sys.modules``), never another process's files.
    """
    for name, module in list(sys.modules.items()):
        if not name.startswith(_AUTOGRAPH_PREFIX):
            continue
        for path in (getattr(module, "__file__", None), getattr(module, "__cached__", None)):
            if path and os.path.basename(path).startswith(_AUTOGRAPH_PREFIX):
                try:
                    os.remove(path)
                except OSError:  # already gone, or not ours to remove
                    pass


def _main(argv: list[str], final: bool = False) -> int:
    """Run one command; Ctrl-C at any point (even one that breaks something on its way out) is exit 130.

    With ``final`` (the console script, which ends the process next) Ctrl-C stays ignored afterwards.
    """
    started = time.perf_counter()
    debug = "--debug" in argv
    with InterruptGuard(restore=not final) as interrupt:
        try:
            code = _dispatch(argv, started)
        except BaseException as exc:  # noqa: BLE001 - sorted below: interrupt, --help/--version, errors, bugs
            if interrupt.pending or isinstance(exc, KeyboardInterrupt):
                interrupt.ignore_further()
                return _interrupted(exc, debug)
            return _exit_code_for(exc, debug)
        if interrupt.pending:  # the interrupt was swallowed on its way: still report it
            interrupt.ignore_further()
            return _interrupted(None, debug)
        return code


def _dispatch(argv: list[str], started: float) -> int:
    """Parse, resolve the options and run the command."""
    ns = build_parser().parse_args(argv)
    debug = bool(ns.debug)
    project = load_defaults()
    if ns.command == "merge":
        return run_merge(ns, argv)
    opts = resolve_options(ns, project)
    if ns.command == "gate":
        return run_gate(opts, argv, started, debug=debug)
    return run_show(opts, debug=debug)


def _interrupted(exc: BaseException | None, debug: bool) -> int:
    """Ctrl-C: one line, exit 130 (written files are complete: every write is atomic)."""
    if debug and exc is not None:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print("amaxcheck: interrupted", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _exit_code_for(exc: BaseException, debug: bool) -> int:
    """The exit code (and one stderr line) for an exception that ended a command."""
    if isinstance(exc, SystemExit):  # --help, --version, argparse's own exits
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_ERROR
    if isinstance(exc, (AmaxcheckError, ValueError, OSError)):
        return _fail(exc, debug)
    if isinstance(exc, Exception):  # a bug: still exit 2 with one line, traceback on --debug
        return _fail(exc, debug, unexpected=True)
    raise exc


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
