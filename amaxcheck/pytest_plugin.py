"""The amaxcheck pytest plugin (registered through the ``pytest11`` entry point).

Write tests of trained classifiers like tests of code::

    import amaxcheck

    def test_every_digit_has_a_real_ideal_input(amax, digits_model):
        result = amax.synthesize(digits_model, classes="all")
        amaxcheck.assert_confident(result, min_p=0.9)
        amaxcheck.assert_in_top_k(result, k=1)
        amaxcheck.assert_not_degenerate(result)

Fixtures
    ``amax``           per test: ``amax.synthesize(model, ...)`` (same arguments as
                       :func:`amaxcheck.synthesize`, served from the session cache),
                       ``amax.check(result, ...)``, ``amax.baseline(report_or_result)``,
                       ``amax.artifacts_dir``, ``amax.save_artifacts(...)``.
    ``amax_baseline``  per test, pytest-regressions style: ``amax_baseline.check(report_or_result)``.
    ``amax_cache``     the session cache: syntheses keyed by (model weights hash, settings),
                       so ten tests asking about one model run the ascent once. Its
                       ``synthesize`` serves module- or session-scoped fixtures too.

Marker
    ``@pytest.mark.amaxcheck(steps=64, restarts=2, seed=1)`` sets per-test settings
    (any :func:`amaxcheck.synthesize` keyword). Precedence: explicit arguments to
    ``amax.synthesize`` > the marker (closest wins) > command line > ini > amaxcheck's defaults.

Options (each has an ini twin: ``--amax-steps`` <-> ``amax_steps`` ...)
    ``--amax-steps N``, ``--amax-restarts N``, ``--amax-seed N`` (default 0),
    ``--amax-artifacts-dir DIR`` (default ``<rootdir>/amaxcheck-artifacts/pytest``),
    ``--amax-artifacts always|on-failure|never`` (default on-failure),
    ``--amax-baseline-dir DIR`` (default: ``amax_baselines/<module>/`` next to each test file),
    ``--amax-update-baselines``,
    ``--amax-html PATH`` (one self-contained HTML page of every model the tests checked, written at the
    end of the session; under pytest-xdist the workers send their parts and the controller writes it).

Artifacts: a folder per test (node id slug, plus the xdist worker id under
``pytest-xdist``) holding one upscaled PNG per class, a labelled grid,
the raw arrays (``.npz``) and ``summary.json``. The first test of a run that
uses amaxcheck removes the folders earlier runs wrote (only folders holding
amaxcheck's marker file), so the folder describes the latest run. Helpers that fail write there at once and print the path; a test
that fails otherwise gets the results it synthesized written at its end.

This module imports **no TensorFlow** at load time: projects with amaxcheck
installed pay nothing in test runs that do not use it.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from . import defaults as D
from .errors import ConfigError
from .output.scope import _CURRENT, ARTIFACT_MODES, MARKER_FILE, ArtifactScope
from .output.text import slug

MARKER = "amaxcheck"
DEFAULT_ARTIFACTS_DIR = Path("amaxcheck-artifacts") / "pytest"
DEFAULT_BASELINE_FOLDER = "amax_baselines"
DEFAULT_SEED = 0  # the same as amaxcheck.synthesize's; always passed explicitly, so the header tells the truth


class AmaxcheckWarning(pytest.PytestWarning):
    """Something amaxcheck could not do (e.g. write artifacts) without failing the test for it."""


# --------------------------------------------------------------------------- one test per class
def each_class(labels: Any, classes: Any = "all") -> list[Any]:
    """One ``pytest.param`` per class, with the label as its id: spread a model's classes over tests (and xdist workers).

    ``labels`` is a list of class names, the path of a labels file (one name per
    line, or a JSON list: what ``--labels`` reads) or the number of classes;
    ``classes`` picks some of them (indices or names, as in :func:`amaxcheck.synthesize`)::

        @pytest.mark.parametrize("digit", amaxcheck.each_class("labels.txt"))
        def test_digit(amax, digits_model, digit):
            report = amax.check(amax.synthesize(digits_model, classes=[digit]), digits_model)
            assert report.for_class(digit).passed, report.for_class(digit).failed_checks

    Under ``pytest -n N`` (pytest-xdist) the class tests run on every worker at
    once, and each worker synthesizes only its classes. What each test reports
    is what one run over every class reports for that class: a class's samples
    draw their random numbers from their own (seed, class, restart) stream and
    never read another class's, and the verdict's controls are a fixed sample of
    classes with a fixed seed (tested in ``tests/test_plugin_classes.py``).
    """
    names = _class_names(labels)
    if classes == "all":
        picked = list(range(len(names)))
    else:
        wanted = classes if isinstance(classes, (list, tuple)) else [classes]
        picked = [names.index(c) if isinstance(c, str) and c in names
                  else c.__index__() if hasattr(c, "__index__") and not isinstance(c, bool) else c for c in wanted]
        bad = [c for c in picked if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < len(names)]
        if bad:
            raise ConfigError(f"each_class: unknown classes {bad!r}; pass indices 0..{len(names) - 1} or names "
                              f"from the labels ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    return [pytest.param(i, id=names[i]) for i in picked]


def _class_names(labels: Any) -> list[str]:
    if isinstance(labels, int) and not isinstance(labels, bool) and labels >= 1:
        return [str(i) for i in range(labels)]
    if isinstance(labels, (str, os.PathLike)):
        from .inputs import read_labels

        return read_labels(str(labels))
    if isinstance(labels, (list, tuple)) and labels and all(isinstance(n, str) for n in labels):
        return list(labels)
    raise ConfigError(f"each_class: labels must be class names (a list of strings), a labels file's path or the "
                      f"number of classes (an integer >= 1), got {labels!r}")


# --------------------------------------------------------------------------- options
#: pytest's ``int`` ini type exists from pytest 8.4; before it, integers are read as strings (and checked here)
_INT_INI = "int" if getattr(pytest, "version_tuple", (0,)) >= (8, 4) else "string"
#: ini twin -> (pytest ini type, what a value must be: said when pytest cannot read it)
INI_TYPES: dict[str, tuple[Any, str]] = {
    "amax_steps": (_INT_INI, "an integer >= 1"),
    "amax_restarts": (_INT_INI, "an integer >= 1"),
    "amax_seed": (_INT_INI, "an integer >= 0"),
    "amax_artifacts_dir": ("string", "a folder path"),
    "amax_artifacts": ("string", "one of always, on-failure, never"),
    "amax_baseline_dir": ("string", "a folder path"),
    "amax_update_baselines": ("bool", "true or false"),
    "amax_html": ("string", "a file path"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Each ``--amax-*`` option and its ini twin (typed for pytest; unset twins read as ``None``)."""
    group = parser.getgroup("amaxcheck", "amaxcheck: test classifiers through their ideal inputs")
    specs = [
        ("steps", "N", "ascent steps per ideal input (default: amaxcheck.synthesize's, 256)"),
        ("restarts", "N", f"independent restarts per class (default: amaxcheck.synthesize's, {D.RESTARTS})"),
        ("seed", "N", f"seed of every synthesis (default {DEFAULT_SEED})"),
        ("artifacts-dir", "DIR", f"where per-test artifact folders go (default <rootdir>/{DEFAULT_ARTIFACTS_DIR.as_posix()})"),
        ("artifacts", "WHEN", "write artifacts 'always', 'on-failure' (default) or 'never'"),
        ("baseline-dir", "DIR", f"where baselines live (default {DEFAULT_BASELINE_FOLDER}/<module>/ next to each test file)"),
        ("html", "PATH", "write one self-contained HTML report of every model the tests checked (default: none)"),
    ]
    for name, metavar, help_text in specs:
        group.addoption(f"--amax-{name}", dest=_dest(name), metavar=metavar, default=None, help=help_text)
        parser.addini(_dest(name), help=f"amaxcheck: {help_text} (ini twin of --amax-{name})",
                      type=INI_TYPES[_dest(name)][0], default=None)
    group.addoption("--amax-update-baselines", dest="amax_update_baselines", action="store_true", default=None,
                    help="rewrite amaxcheck baselines from this run instead of comparing with them")
    parser.addini("amax_update_baselines", help="amaxcheck: rewrite baselines (true/false; ini twin of "
                  "--amax-update-baselines)", type=INI_TYPES["amax_update_baselines"][0], default=None)


def _dest(name: str) -> str:
    return "amax_" + name.replace("-", "_")


@dataclass(frozen=True)
class Settings:
    """The validated amaxcheck options of one pytest run."""

    steps: int | None
    restarts: int | None
    seed: int
    artifacts_dir: Path
    artifacts: str
    baseline_dir: Path | None
    update_baselines: bool
    html: Path | None = None

    def synthesize_defaults(self) -> dict[str, Any]:
        """Keyword arguments these options add to every ``amax.synthesize`` call."""
        out: dict[str, Any] = {"seed": self.seed}
        if self.steps is not None:
            out["steps"] = self.steps
        if self.restarts is not None:
            out["restarts"] = self.restarts
        return out


def _raw_option(config: pytest.Config, dest: str) -> tuple[Any, str, Path]:
    """``(value, where it came from, folder relative paths are resolved against)``; value None when unset.

    The command line wins over the ini twin. An ini value pytest cannot read as
    its type is a :class:`pytest.UsageError` naming the key, the file and what
    the value must be.
    """
    flag = "--" + dest.replace("_", "-")
    value = config.getoption(dest, default=None)
    if value is not None:
        return value, flag, Path(config.invocation_params.dir)
    base = config.inipath.parent if config.inipath else config.rootpath
    where = f"ini option {dest}" + (f" in {config.inipath}" if config.inipath else "")
    try:
        value = config.getini(dest)
    except (ValueError, TypeError, pytest.UsageError) as exc:
        raise pytest.UsageError(f"amaxcheck: {where} must be {INI_TYPES[dest][1]} ({exc})") from None
    if value in (None, "", []):
        return None, flag, base
    return value, where, base


def _as_int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):  # read by pytest as an int ini option
        number: int | None = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            number = None
    if number is None or number < minimum:
        raise pytest.UsageError(f"amaxcheck: {where} must be an integer >= {minimum}, got {str(value)!r}")
    return number


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise pytest.UsageError(f"amaxcheck: {where} must be true or false, got {value!r}")


def _as_path(value: Any, base: Path) -> Path:
    path = Path(os.path.expanduser(str(value).strip()))
    return path if path.is_absolute() else base / path


def resolve_settings(config: pytest.Config) -> Settings:
    """Read command line and ini options (the command line wins) and validate them; UsageError on bad values."""
    values: dict[str, Any] = {}
    for key, minimum in (("steps", 1), ("restarts", 1), ("seed", 0)):
        value, where, _ = _raw_option(config, _dest(key))
        values[key] = None if value is None else _as_int(value, where, minimum)
    if values["seed"] is None:
        values["seed"] = DEFAULT_SEED
    mode, where, _ = _raw_option(config, "amax_artifacts")
    mode = "on-failure" if mode is None else str(mode).strip().lower().replace("_", "-")
    if mode not in ARTIFACT_MODES:
        raise pytest.UsageError(f"amaxcheck: {where} must be one of {', '.join(ARTIFACT_MODES)}, got {mode!r}")
    art, _, base = _raw_option(config, "amax_artifacts_dir")
    artifacts_dir = config.rootpath / DEFAULT_ARTIFACTS_DIR if art is None else _as_path(art, base)
    bdir, _, base = _raw_option(config, "amax_baseline_dir")
    update, where, _ = _raw_option(config, "amax_update_baselines")
    html, _, base = _raw_option(config, "amax_html")
    return Settings(
        steps=values["steps"], restarts=values["restarts"], seed=values["seed"],
        artifacts_dir=artifacts_dir.resolve(), artifacts=mode,
        baseline_dir=None if bdir is None else _as_path(bdir, base).resolve(),
        update_baselines=False if update is None else _as_bool(update, where),
        html=None if html is None else _as_path(html, base).resolve(),
    )


# --------------------------------------------------------------------------- session state
@dataclass
class _RunState:
    """What the plugin keeps for one pytest run (on the controller it also gathers the workers' news)."""

    settings: Settings
    worker: str | None
    run_id: str
    cache: SynthesisCache
    cleaned: bool = False
    artifact_folders: list[str] = field(default_factory=list)
    baselines: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    worker_cache: dict[str, int] = field(default_factory=lambda: {"runs": 0, "hits": 0})
    worker_timings: dict[str, float] = field(default_factory=dict)  # the xdist workers' seconds per stage, summed
    html_tests: list[tuple[tuple[str, int, str], dict[str, Any]]] = field(default_factory=list)
    html_written: Path | None = None


_STATE = pytest.StashKey[_RunState]()
_SCOPE = pytest.StashKey[ArtifactScope]()
_BASELINES_DONE = pytest.StashKey[list]()


def _state(config: pytest.Config) -> _RunState:
    return config.stash[_STATE]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(steps=..., restarts=..., seed=..., **synthesize_kwargs): amaxcheck settings for this test's "
        "amax.synthesize calls (closest marker wins; explicit arguments win over the marker)",
    )
    workerinput = getattr(config, "workerinput", None)
    worker = str(workerinput.get("workerid", "gw")) if workerinput is not None else None
    run_id = str(workerinput.get("amaxcheck_run_id", "")) if workerinput is not None else uuid.uuid4().hex[:12]
    settings = resolve_settings(config)
    if settings.html is not None and worker is None:
        check_html_path(settings.html, _raw_option(config, "amax_html")[1])
    state = _RunState(settings, worker, run_id or uuid.uuid4().hex[:12], SynthesisCache(settings.synthesize_defaults()))
    config.stash[_STATE] = state
    config.pluginmanager.register(_Collector(state), "amaxcheck-collector")


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = _state(config).settings
    tf = _version("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly", "tensorflow-intel")
    steps = "default" if s.steps is None else s.steps
    restarts = "default" if s.restarts is None else s.restarts
    baselines = s.baseline_dir or f"{DEFAULT_BASELINE_FOLDER}/ next to each test file"
    return [
        (f"amaxcheck {__version__} (tensorflow {tf}, keras {_version('keras')}): seed {s.seed}, steps {steps}, "
        f"restarts {restarts}"),
        f"amaxcheck artifacts: {s.artifacts} -> {s.artifacts_dir}; baselines: {baselines}"
        + (" (updating)" if s.update_baselines else ""),
    ]


def clean_stale_artifacts(state: _RunState) -> None:
    """Remove artifact folders that an earlier run wrote, once per process, before this run writes any.

    Only folders holding amaxcheck's marker file with another run id are removed,
    so xdist workers of one run never delete each other's folders, and runs that
    never use amaxcheck (``--collect-only``, ``-k other``) delete nothing.
    """
    if state.cleaned:
        return
    state.cleaned = True
    try:
        folders = [p for p in state.settings.artifacts_dir.iterdir() if (p / MARKER_FILE).is_file()]
    except OSError:
        return  # missing or unreadable: a write will say so, naming the path, if it matters
    for folder in folders:
        try:
            run = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8")).get("run")
        except (OSError, ValueError, AttributeError):
            run = None
        if run != state.run_id:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- per test
def _slug(text: str, limit: int = 80) -> str:
    """A test's name as a folder or file name (letters, digits, ``_ . -``), at most ``limit`` characters."""
    return slug(text, keep="_.-", strip="_.", limit=limit, fallback="test")


def artifact_folder_name(nodeid: str, worker: str | None = None) -> str:
    """Folder name of a test's artifacts: readable slug + short hash of the full node id (+ xdist worker id).

    ``tests/test_m.py::test_x[a]`` -> ``test_m.py-test_x_a-1f2e3d`` (``.gw0`` appended under pytest-xdist).
    """
    file_part, _, rest = nodeid.partition("::")
    readable = _slug("-".join([file_part.rsplit("/", 1)[-1]] + ([rest.replace("::", "-")] if rest else [])))
    digest = hashlib.sha1(nodeid.encode()).hexdigest()[:6]
    return f"{readable}-{digest}" + (f".{worker}" if worker else "")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Open the test's :class:`ArtifactScope` so helpers anywhere in the test know where to save."""
    state = _state(item.config)
    folder = state.settings.artifacts_dir / artifact_folder_name(item.nodeid, state.worker)
    checker = state.cache.check if state.settings.html is None else CheckRecorder(state.cache.check)
    scope = ArtifactScope(folder, mode=state.settings.artifacts, name=item.nodeid, run=state.run_id,
                          checker=checker, before_write=lambda: clean_stale_artifacts(state))
    item.stash[_SCOPE] = scope
    token = _CURRENT.set(scope)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    scope = item.stash.get(_SCOPE, None)
    baselines = item.stash.get(_BASELINES_DONE, [])
    if baselines:
        report.amax_baselines = [list(b) for b in baselines]
    if scope is None or not scope.touched:
        return
    try:
        clean_stale_artifacts(_state(item.config))
        with _state(item.config).cache.timings.stage("outputs"):
            scope.finish(failed=report.failed)
    except Exception as exc:  # noqa: BLE001 - never turn a test report into an INTERNALERROR
        scope.errors.append(f"could not write amaxcheck artifacts for {item.nodeid}: {type(exc).__name__}: {exc}")
    if _state(item.config).settings.html is not None:
        try:
            report.amax_html = html_part(item.nodeid, report.outcome, scope)
        except Exception as exc:  # noqa: BLE001 - as above
            scope.errors.append(f"could not add {item.nodeid} to the amaxcheck HTML report: {type(exc).__name__}: {exc}")
    for error in scope.errors:
        item.warn(AmaxcheckWarning(error))
    properties = scope.properties()
    item.user_properties.extend(properties)  # junitxml reads them from the teardown report
    report.user_properties.extend(properties)
    folders = [str(p) for p in scope.saved_folders]
    if folders:
        report.amax_artifacts = folders
        report.sections.append(("amaxcheck artifacts", "\n".join(folders)))
    if scope.errors:
        report.amax_errors = list(scope.errors)
        report.sections.append(("amaxcheck errors", "\n".join(scope.errors)))


class _Collector:
    """Registered per run: gathers what tests (and xdist workers) report, and prints the summary."""

    def __init__(self, state: _RunState):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Artifact folders, baselines and errors ride on call reports (also from xdist workers)."""
        if report.when != "call":
            return
        self.state.artifact_folders.extend(getattr(report, "amax_artifacts", None) or [])
        self.state.baselines.extend(tuple(b) for b in getattr(report, "amax_baselines", None) or [])
        self.state.errors.extend(getattr(report, "amax_errors", None) or [])
        part = getattr(report, "amax_html", None)
        if part:
            path, line, _ = report.location
            self.state.html_tests.append(((str(path), -1 if line is None else int(line), report.nodeid), part))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: give each worker this run's id (see :func:`clean_stale_artifacts`)."""
        node.workerinput["amaxcheck_run_id"] = self.state.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: add a worker's cache counts to the summary."""
        counts = getattr(node, "workeroutput", {}).get("amaxcheck_cache")
        for key in self.state.worker_cache:
            self.state.worker_cache[key] += int((counts or {}).get(key, 0))
        for stage, seconds in (getattr(node, "workeroutput", {}).get("amaxcheck_timings") or {}).items():
            self.state.worker_timings[stage] = self.state.worker_timings.get(stage, 0.0) + float(seconds)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.state.worker is not None and hasattr(session.config, "workeroutput"):
            session.config.workeroutput["amaxcheck_cache"] = {"runs": self.state.cache.runs,
                                                              "hits": self.state.cache.hits}
            session.config.workeroutput["amaxcheck_timings"] = dict(self.state.cache.timings.seconds)
        if self.state.worker is None and self.state.settings.html is not None:
            write_session_html(self.state)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = summary_lines(self.state)
        if lines:
            terminalreporter.write_sep("-", "amaxcheck")
            for line in lines:
                terminalreporter.write_line(line)


def summary_lines(state: _RunState) -> list[str]:
    """The end-of-run summary: cache use, artifact folders, baselines written, errors."""
    runs = state.cache.runs + state.worker_cache["runs"]
    hits = state.cache.hits + state.worker_cache["hits"]
    lines = []
    if runs or hits:
        lines.append(f"{runs} synthesis run(s), {hits} served from the session cache")
        lines.append(session_time_line(state))
    if state.artifact_folders:
        lines.append(f"artifacts of {len(state.artifact_folders)} test(s) in {state.settings.artifacts_dir}:")
        lines += [f"  {folder}" for folder in state.artifact_folders[:20]]
        if len(state.artifact_folders) > 20:
            lines.append(f"  ... and {len(state.artifact_folders) - 20} more")
    for status in ("created", "updated"):
        paths = [p for s, p in state.baselines if s == status]
        if paths:
            lines.append(f"baselines {status}: {len(paths)}")
            lines += [f"  {p}" for p in paths]
    if state.html_written is not None:
        lines.append(f"HTML report of {len(state.html_tests)} test(s): {state.html_written}")
    lines += [f"ERROR: {error}" for error in dict.fromkeys(state.errors)]
    return lines


def session_time_line(state: _RunState) -> str:
    """``time: trace 3.0 s, synthesis 2.1 s, controls 1.6 s, checks 0.2 s, outputs 0.3 s``: the session's amaxcheck
    time per stage (xdist workers' summed; the model is loaded by the tests' own fixtures, so no ``load``)."""
    from .timings import STAGES, Timings, line

    seconds = Timings(seconds=dict(state.cache.timings.seconds))
    seconds.add(state.worker_timings)
    per_stage = seconds.as_dict()
    per_stage.pop("total")  # stage seconds (summed over workers), not the session's wall time
    return line(per_stage, stages=tuple(s for s in STAGES if s != "load"))


# --------------------------------------------------------------------------- the HTML report
def check_html_path(path: Path, where: str) -> None:
    """Refuse an ``--amax-html`` path that cannot be written, or a file that is not an earlier amaxcheck HTML report."""
    from .cli import check_writable
    from .output.guard import written_by_amaxcheck

    try:
        check_writable(str(path), where, folder=False)
    except ConfigError as exc:
        raise pytest.UsageError(f"amaxcheck: {exc}") from None
    if path.exists() and not written_by_amaxcheck(path, "html"):
        raise pytest.UsageError(f"amaxcheck: {where} {str(path)!r} already exists and is not an amaxcheck HTML "
                                "report, so it will not be replaced; pick another path or delete the file")


class CheckRecorder:
    """A test's ``amaxcheck.check`` under ``--amax-html``: the session cache's, remembering each report's reference.

    The page shows a class's real examples beside its ideal input; the report
    itself keeps no reference images, so they are noted here, per test.
    """

    def __init__(self, check: Any) -> None:
        self._check = check
        self._references: list[tuple[Any, Any, Any]] = []  # (report, images, labels); holds the report alive

    def __call__(self, result: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        report = self._check(result, **kwargs)
        if kwargs.get("reference") is not None:
            self._references.append((report, kwargs["reference"], kwargs.get("reference_labels")))
        return report

    def reference_of(self, report: Any) -> tuple[Any, Any]:
        """``(images, labels)`` the report was checked with, or ``(None, None)``."""
        return next(((x, y) for r, x, y in self._references if r is report), (None, None))


def html_part(nodeid: str, outcome: str, scope: ArtifactScope) -> dict[str, Any] | None:
    """This test's part of the ``--amax-html`` page as plain data (it travels from an xdist worker), or None.

    One article per report the test made (:func:`amaxcheck.output.html.report_article`),
    rendered here, while the test's models are alive (the control pictures are found through them).
    """
    reports = scope.reports
    if not reports:
        return None
    from .output.figures import class_figures, report_document
    from .output.html import CheckedTest, anchor_for, report_article

    recorder = scope.checker if isinstance(scope.checker, CheckRecorder) else None
    articles = []
    for n, report in enumerate(reports, 1):
        images, labels = recorder.reference_of(report) if recorder is not None else (None, None)
        figures = class_figures(report, reference=images, reference_labels=labels)
        articles.append(report_article(report_document(report, test=nodeid), figures,
                                       anchor=f"{anchor_for(nodeid)}-r{n}"))
    return CheckedTest(nodeid, outcome, tuple(articles)).to_dict()


def write_session_html(state: _RunState) -> None:
    """Write the ``--amax-html`` page: every test's part, in file and line order (the same under xdist)."""
    from .output.html import CheckedTest, session_html, write_html

    path = state.settings.html
    if path is None:
        return
    tests = [CheckedTest.from_dict(part) for _, part in sorted(state.html_tests, key=lambda entry: entry[0])]
    try:
        state.html_written = write_html(path, session_html(tests))
    except OSError as exc:
        state.errors.append(f"could not write the amaxcheck HTML report {path}: {exc.strerror or exc}; point "
                            "--amax-html at a writable path")


# --------------------------------------------------------------------------- the session cache
def _digest_array(value: Any) -> tuple:
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(value))
    return ("array", arr.shape, str(arr.dtype), hashlib.sha1(arr.tobytes()).hexdigest())


def _freeze(value: Any, keep: list) -> Any:
    """A hashable stand-in for a ``check`` keyword argument (arrays by content, other objects by identity)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_freeze(v, keep) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _freeze(v, keep)) for k, v in value.items())))
    if hasattr(value, "__array__") and hasattr(value, "dtype"):
        return _digest_array(value)
    try:
        hash(value)
        return ("obj", value)
    except TypeError:
        keep.append(value)  # keeps the object alive, so its id cannot be reused while the cache holds the key
        return ("id", id(value))


def split_settings(base: Any, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(AscentConfig, other synthesize arguments)``: ``base`` with the settings in ``kwargs`` applied."""
    from .ascent.config import FIELDS

    settings = {k: v for k, v in kwargs.items() if k in FIELDS}
    rest = {k: v for k, v in kwargs.items() if k not in FIELDS}
    unknown = set(rest) - {"labels", "progress", "config"}
    if unknown & {"layer", "units"}:
        raise ConfigError("the amax fixtures synthesize classes (cached, checked, with artifacts); for the units of a "
                          "layer call amaxcheck.synthesize(model, layer=..., units=...) and amaxcheck.check(result) "
                          "in the test")
    if unknown:
        import difflib

        name = min(unknown)
        close = difflib.get_close_matches(name, FIELDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; settings are {', '.join(FIELDS)}"
        raise ConfigError(f"unknown setting {name!r}{hint}")
    config = rest.pop("config", None) or base
    return (config.replace(**settings) if settings else config), rest


class SynthesisCache:
    """Session cache of syntheses keyed by (model weights, classes, labels, AscentConfig), and of checks on them.

    ``defaults`` (the ``AscentConfig`` built from ``--amax-steps/--amax-restarts/--amax-seed``)
    apply where a call does not say otherwise, so module- or session-scoped fixtures can
    call ``amax_cache.synthesize(model, ...)`` directly. ``runs`` counts ascents
    actually run, ``hits`` calls served from the cache. Cached results are shared
    between tests; their arrays are read-only. Storage is :class:`amaxcheck._cache.LRU`
    (bounded; results hold no model).
    """

    def __init__(self, defaults: Any = None) -> None:
        from . import _cache
        from .timings import Timings

        self._defaults = defaults
        self.timings = Timings()  # where this session's amaxcheck time went (the summary's "time:" line)
        self._results: Any = _cache.LRU(D.RESULT_CACHE_SIZE)
        self._reports: Any = _cache.LRU(D.RESULT_CACHE_SIZE)
        self._keep: list = []

    @property
    def defaults(self) -> Any:
        """The :class:`~amaxcheck.ascent.config.AscentConfig` calls start from."""
        if self._defaults is None or isinstance(self._defaults, Mapping):
            from .ascent.config import AscentConfig

            self._defaults = AscentConfig.from_mapping(dict(self._defaults or {}), "amaxcheck options")
        return self._defaults

    @property
    def runs(self) -> int:
        return self._results.misses

    @property
    def hits(self) -> int:
        return self._results.hits

    def __len__(self) -> int:
        return len(self._results)

    def synthesize(self, model: Any, classes: Any = "all", **kwargs: Any) -> Any:
        """:func:`amaxcheck.synthesize`, run once per (model weights, classes, settings) per session."""
        __tracebackhide__ = True
        import keras

        from . import _cache

        config, rest = split_settings(self.defaults, kwargs)
        if not isinstance(model, keras.Model):  # let synthesize raise its clear ModelError
            from .ascent.engine import synthesize

            return synthesize(model, classes, config=config, **rest)
        with self.timings.stage("synthesis"):
            return _cache.cached_synthesize(model, classes, config, labels=rest.get("labels"), store=self._results,
                                            timings=self.timings)

    def check(self, result: Any, **kwargs: Any) -> Any:
        """:func:`amaxcheck.check`, cached for results this cache owns (each caller gets its own copy)."""
        __tracebackhide__ = True
        import amaxcheck

        if not any(v is result for v in self._results.values()):
            return amaxcheck.check(result, timings=self.timings, **kwargs)
        key = (id(result), _freeze(kwargs, self._keep))
        report = self._reports.get_or_build(key, lambda: amaxcheck.check(result, timings=self.timings, **kwargs))
        return _copy_report(report)

    def info(self) -> dict[str, int]:
        return {"runs": self.runs, "hits": self.hits, "entries": len(self._results)}


def _copy_report(report: Any) -> Any:
    """A copy whose per-class entries can be annotated (image paths) without touching the cached one."""
    clone = copy.copy(report)
    clone.classes = [copy.copy(c) for c in report.classes]
    if getattr(report, "triggers", None) is not None:  # trigger image paths are annotated too
        clone.triggers = copy.copy(report.triggers)
        clone.triggers.classes = [copy.copy(c) for c in report.triggers.classes]
    return clone


# --------------------------------------------------------------------------- fixtures
def _marker_settings(item: pytest.Item) -> dict[str, Any]:
    """Keyword arguments of the ``amaxcheck`` markers on ``item``; the closest marker wins."""
    merged: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(MARKER))):
        if mark.args:
            raise ConfigError(
                f"{item.nodeid}: @pytest.mark.{MARKER} takes keyword arguments only "
                f"(e.g. @pytest.mark.{MARKER}(steps=64, restarts=2)), got positional {mark.args!r}"
            )
        merged.update(mark.kwargs)
    return merged


def _validate_marker(item: pytest.Item, settings: Mapping[str, Any]) -> None:
    """Unknown names and bad values in a marker fail the test with the setting named."""
    from .ascent.config import AscentConfig

    try:
        split_settings(AscentConfig(), settings)[0]
    except ConfigError as exc:
        raise ConfigError(f"{item.nodeid}: @pytest.mark.{MARKER}: {exc}") from None


class Amax:
    """The ``amax`` fixture: amaxcheck inside one test, backed by the session cache."""

    def __init__(self, request: pytest.FixtureRequest, cache: SynthesisCache, settings: Settings):
        self._request = request
        self._cache = cache
        marker = _marker_settings(request.node)
        if marker:
            _validate_marker(request.node, marker)
        self.settings: dict[str, Any] = {**settings.synthesize_defaults(), **marker}

    @property
    def _scope(self) -> ArtifactScope:
        return self._request.node.stash[_SCOPE]

    @property
    def cache(self) -> SynthesisCache:
        return self._cache

    @property
    def artifacts_dir(self) -> Path:
        """This test's artifact folder (created when something is written)."""
        folder = self._scope.folder
        assert folder is not None  # the plugin gives every test's scope a folder
        return folder

    def synthesize(self, model: Any, classes: Any = "all", **kwargs: Any) -> Any:
        """:func:`amaxcheck.synthesize`, cached for the session.

        Same arguments as :func:`amaxcheck.synthesize`; the options and the marker
        supply defaults (see :attr:`settings`), explicit arguments win.
        """
        __tracebackhide__ = True
        result = self._cache.synthesize(model, classes, **{**self.settings, **kwargs})
        self._scope.track(result)
        return result

    def check(self, result: Any, model: Any = None, **kwargs: Any) -> Any:
        """:func:`amaxcheck.check` (cached); the report is kept for artifacts and JUnit properties."""
        __tracebackhide__ = True
        if model is not None:
            kwargs["model"] = model
        report = self._scope.run_check(result, **kwargs)  # the session cache's check (recorded for --amax-html)
        self._scope.track(result, report)
        return report

    def save_artifacts(self, report_or_result: Any) -> Path:
        """Write artifacts now, whatever ``--amax-artifacts`` says; returns the folder."""
        report = report_or_result if hasattr(report_or_result, "failed_classes") else self.check(report_or_result,
                                                                                                   verdict=False)
        folder, error = self._scope.save(report, force=True)
        if error or folder is None:
            raise ConfigError(error or "amaxcheck artifacts were not written (no artifact folder for this test)")
        return folder

    def baseline(self, report_or_result: Any, **kwargs: Any) -> Any:
        """Compare with this test's baseline (see :class:`AmaxBaseline.check`)."""
        __tracebackhide__ = True
        return self._request.getfixturevalue("amax_baseline").check(report_or_result, **kwargs)


class AmaxBaseline:
    """The ``amax_baseline`` fixture (pytest-regressions style): ``amax_baseline.check(report_or_result)``.

    The baseline file is ``<baseline dir>/<test name>.json``; see :mod:`amaxcheck.baselines`
    for the comparison and its tolerances.
    """

    def __init__(self, request: pytest.FixtureRequest, settings: Settings):
        self._request = request
        self._settings = settings
        self._count = 0

    @property
    def folder(self) -> Path:
        """Where this test's baselines live."""
        item = self._request.node
        path = Path(item.path)
        if self._settings.baseline_dir is None:
            return path.parent / DEFAULT_BASELINE_FOLDER / path.stem
        try:
            relative = path.relative_to(item.config.rootpath).with_suffix("")
        except ValueError:
            relative = Path(path.stem)
        return self._settings.baseline_dir / relative

    def path_for(self, basename: str | None = None) -> Path:
        if basename is None:
            name = _slug("-".join(self._request.node.nodeid.split("::")[1:]) or self._request.node.name, 120)
            basename = name if self._count <= 1 else f"{name}-{self._count}"
        elif not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+", basename):
            raise ConfigError(f"basename {basename!r} must be a plain file name (letters, digits, _ . - [ ]); "
                              f"pass e.g. basename={_slug(basename, 120)!r}")
        return self.folder / f"{basename}.json"

    def check(self, report_or_result: Any, *, basename: str | None = None, rtol: float | None = None,
              atol: float | None = None, tolerances: Mapping[str, Mapping[str, float]] | None = None,
              **check_kwargs: Any) -> Any:
        """Compare per-class statistics and verdicts with the baseline file; fail on drift.

        A result is checked first (``amaxcheck.check(result, verdict=True, **check_kwargs)``,
        cached). Missing baseline: written, and the test fails once. ``--amax-update-baselines``:
        rewritten, and the test passes. Corrupt baseline: :class:`~amaxcheck.errors.BaselineError`.
        Returns the :class:`~amaxcheck.baselines.BaselineOutcome`.
        """
        __tracebackhide__ = True
        from .errors import BaselineError
        from .output import baselines

        self._count += 1
        scope: ArtifactScope = self._request.node.stash[_SCOPE]
        if hasattr(report_or_result, "failed_classes"):
            report = report_or_result
        else:
            report = scope.run_check(report_or_result, **{"verdict": True, **check_kwargs})
        scope.track(report.result, report)
        path = self.path_for(basename)
        try:
            outcome = baselines.check_baseline(
                report, path, update=self._settings.update_baselines, test=self._request.node.nodeid,
                rtol=baselines.DEFAULT_RTOL if rtol is None else rtol,
                atol=baselines.DEFAULT_ATOL if atol is None else atol, tolerances=tolerances)
        except OSError as exc:
            raise BaselineError(f"could not read or write baseline {path}: {exc.strerror or exc}; point "
                                "--amax-baseline-dir at a readable, writable folder") from None
        if outcome.status in ("created", "updated"):
            self._request.node.stash.setdefault(_BASELINES_DONE, []).append((outcome.status, str(path)))
        if outcome.failed:
            pytest.fail(outcome.message, pytrace=False)
        return outcome


@pytest.fixture(scope="session")
def amax_cache(request: pytest.FixtureRequest) -> SynthesisCache:
    """Syntheses (and checks) shared by every test of the session, keyed by model weights and settings."""
    return _state(request.config).cache


@pytest.fixture
def amax(request: pytest.FixtureRequest, amax_cache: SynthesisCache) -> Amax:
    """amaxcheck for this test: ``amax.synthesize(model, classes=..., **synthesize_kwargs)`` and friends."""
    return Amax(request, amax_cache, _state(request.config).settings)


@pytest.fixture
def amax_baseline(request: pytest.FixtureRequest) -> AmaxBaseline:
    """Per-test baseline of ideal-input statistics and verdicts: ``amax_baseline.check(report_or_result)``."""
    return AmaxBaseline(request, _state(request.config).settings)
