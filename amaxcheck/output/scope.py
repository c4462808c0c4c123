"""Where a test's artifacts go: :class:`ArtifactScope`, :func:`current_scope`, :func:`artifacts_to`.

Under pytest with the amaxcheck plugin, each test gets an :class:`ArtifactScope`
(its folder, when to write, the results and reports it touched), held in a
:class:`contextvars.ContextVar`; the assertion helpers find it with
:func:`current_scope` and save there. Without pytest, :func:`artifacts_to`
opens one by hand.

This module imports no TensorFlow (the pytest plugin imports it at load).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["ARTIFACT_MODES", "MARKER_FILE", "ArtifactScope", "artifacts_to", "current_scope"]

#: when artifacts are written: for every test using amaxcheck, only on failure, or never
ARTIFACT_MODES = ("always", "on-failure", "never")
#: file that marks a folder as written by amaxcheck (only such folders are ever cleaned)
MARKER_FILE = "amaxcheck-test.json"

Checker = Callable[..., Any]


# --------------------------------------------------------------------------- where artifacts go
@dataclass
class _Tracked:
    """One result a test touched, the reports made on it, and where it was saved."""

    result: Any
    reports: list = field(default_factory=list)
    folder: Path | None = None

    @property
    def report(self) -> Any:
        """The latest report holding the degeneracy verdict, else the latest report (None if none)."""
        with_verdict = [r for r in self.reports if any(_finite(c.degeneracy) for c in r.classes)]
        return (with_verdict or self.reports or [None])[-1]


@dataclass
class ArtifactScope:
    """Where and when one test's (or one block's) artifacts are written.

    The pytest plugin opens one per test; :func:`artifacts_to` opens one by hand.
    Every result and report a helper (or the ``amax`` fixture) sees is tracked,
    so the plugin can write them when the test fails for any reason, and
    record JUnit properties from them.
    """

    folder: Path | None
    mode: str = "on-failure"
    name: str = ""  # the test's node id, written into the marker file
    run: str = ""  # the pytest run's id, written into the marker file (stale folders are cleaned by run)
    checker: Checker | None = None  # replaces amaxcheck.check (the plugin passes a cached one)
    before_write: Callable[[], None] | None = None  # called before each write (the plugin cleans stale folders)
    errors: list[str] = field(default_factory=list)
    _tracked: dict[int, _Tracked] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ARTIFACT_MODES:
            raise ConfigError(f"artifact mode must be one of {', '.join(ARTIFACT_MODES)}, got {self.mode!r}; "
                              "pass mode='always', 'on-failure' or 'never'")
        self.folder = None if self.folder is None else Path(self.folder)

    # ---------------------------------------------------------------- tracking
    def track(self, result: Any, report: Any = None) -> None:
        """Remember ``result`` (and its latest ``report``) for end-of-test artifacts and properties."""
        if result is None:
            return
        entry = self._tracked.setdefault(id(result), _Tracked(result))
        if report is not None and not any(r is report for r in entry.reports):
            entry.reports.append(report)

    @property
    def reports(self) -> list[Any]:
        """The most informative report on each tracked result, in the order the results were first seen."""
        return [t.report for t in self._tracked.values() if t.report is not None]

    @property
    def touched(self) -> bool:
        """Whether the test synthesized or checked anything."""
        return bool(self._tracked)

    @property
    def saved_folders(self) -> list[Path]:
        return [t.folder for t in self._tracked.values() if t.folder is not None]

    def folder_for(self, result: Any) -> Path | None:
        """This test's folder for its first result; ``result_2``, ``result_3``... inside it for later ones."""
        if self.folder is None:
            return None
        keys = list(self._tracked)
        position = keys.index(id(result)) if id(result) in keys else len(keys)
        return self.folder if position == 0 else self.folder / f"result_{position + 1}"

    # ------------------------------------------------------------------ saving
    def save(self, report: Any, force: bool = False) -> tuple[Path | None, str | None]:
        """Write ``report``'s artifacts; return ``(folder, None)`` or ``(None, why not)``.

        ``force`` writes even in mode ``"never"``. Never raises on I/O errors: a
        failing test must still report its real failure.
        """
        result = report.result
        self.track(result, report)
        folder = self.folder_for(result)
        if folder is None:
            return None, None
        if self.mode == "never" and not force:
            return None, "not saved (--amax-artifacts never)"
        try:
            from .artifacts import write_artifacts

            if self.before_write is not None:
                self.before_write()
            write_artifacts(report, folder, summary_extra={"test": self.name} if self.name else None)
            self._write_marker()
        except OSError as exc:
            message = (f"NOT SAVED: could not write amaxcheck artifacts to {folder}: {exc.strerror or exc}. "
                       "Point --amax-artifacts-dir (or artifacts_dir=) at a writable folder, "
                       "or pass --amax-artifacts never")
            if message not in self.errors:
                self.errors.append(message)
            return None, message
        self._tracked[id(result)].folder = folder
        return folder, None

    def _write_marker(self) -> None:
        from .._atomic import atomic_write_text

        if self.folder is None:  # a scope without a folder never writes
            return
        atomic_write_text(self.folder / MARKER_FILE, json.dumps({"test": self.name, "run": self.run}) + "\n")

    def finish(self, failed: bool) -> list[str]:
        """End of the test: write what ``mode`` asks for and was not written yet. Returns error messages."""
        if self.mode == "never" or (self.mode == "on-failure" and not failed):
            return []
        errors = []
        for entry in list(self._tracked.values()):
            if entry.folder is not None:
                continue
            report = entry.report if entry.report is not None else self.run_check(entry.result, verdict=False)
            _, error = self.save(report)
            if error:
                errors.append(error)
        return errors

    def run_check(self, result: Any, **kwargs: Any) -> Any:
        """``amaxcheck.check(result, **kwargs)``, through the plugin's cache when there is one."""
        if self.checker is not None:
            return self.checker(result, **kwargs)
        from .. import check
        return check(result, **kwargs)

    # -------------------------------------------------------------- properties
    def properties(self, per_class_limit: int = 32) -> list[tuple[str, Any]]:
        """JUnit-style properties summarizing the tracked reports (confidence, degeneracy, failures)."""
        classes = [c for r in self.reports for c in r.classes]
        if not classes:
            return []
        conf = [c.confidence for c in classes if _finite(c.confidence)]
        degen = [c.degeneracy for c in classes if _finite(c.degeneracy)]
        props: list[tuple[str, Any]] = []
        if conf:
            props.append(("amaxcheck_min_confidence", round(min(conf), 6)))
        if degen:
            props.append(("amaxcheck_max_degeneracy", round(max(degen), 6)))
        props.append(("amaxcheck_failed_classes", sum(1 for r in self.reports for c in r.failed_classes)))
        verdicts = [r.verdict for r in self.reports if getattr(r, "verdict", None) is not None]
        if verdicts:  # the latest verdict, as the test saw it
            props.append(("amaxcheck_verdict", verdicts[-1]))
        if len(classes) <= per_class_limit:
            for c in classes:
                if _finite(c.confidence):
                    props.append((f"amaxcheck_confidence[{c.label}]", round(float(c.confidence), 6)))
                if _finite(c.degeneracy):
                    props.append((f"amaxcheck_degeneracy[{c.label}]", round(float(c.degeneracy), 6)))
        if self.saved_folders:
            props.append(("amaxcheck_artifacts", str(self.saved_folders[0])))
        return props


_CURRENT: contextvars.ContextVar[ArtifactScope | None] = contextvars.ContextVar("amaxcheck_scope", default=None)


def current_scope() -> ArtifactScope | None:
    """The :class:`ArtifactScope` of the running test (set by the pytest plugin), or ``None``."""
    return _CURRENT.get()


@contextlib.contextmanager
def artifacts_to(folder: str | Path, mode: str = "on-failure") -> Iterator[ArtifactScope]:
    """Save the artifacts of failing helpers in ``folder`` (outside pytest, or to override the plugin)::

        with amaxcheck.assertions.artifacts_to("out/run1"):
            amaxcheck.assert_confident(result)
    """
    scope = ArtifactScope(Path(folder), mode=mode)
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
