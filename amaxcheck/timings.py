"""Where a run's time goes: seconds per stage (load, trace, synthesis, controls, checks, outputs; triggers if run).

A :class:`Timings` value belongs to one run (the gate makes one per command, the
pytest plugin one per session); nothing is global. Stages are *exclusive*: a
stage opened inside another (the controls inside the checks) is not counted in
the outer one as well, and :meth:`Timings.carve` moves seconds measured inside
an open stage (the first compiled call's tracing, inside the synthesis) to
another stage, so the stages never add up to more than the wall time. Pure
Python, no TensorFlow.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

#: the stages, in the order they are reported
STAGES = ("load", "trace", "synthesis", "controls", "checks", "outputs")


@dataclass
class _Frame:
    name: str
    start: float
    carved: float = 0.0  # seconds inside it counted to other stages (nested stages, carve)


@dataclass
class Timings:
    """Seconds per stage of one run, and the run's start (``clock()`` when it was made, or ``started``)."""

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    _open: list[_Frame] = field(default_factory=list, repr=False, compare=False)  # the stages open now, outermost first

    @contextmanager
    def stage(self, name: str) -> Iterator[Timings]:
        """Count the time inside the block to ``name`` (minus what nested stages and :meth:`carve` took)."""
        frame = _Frame(name, self.clock())
        self._open.append(frame)
        try:
            yield self
        finally:
            self._open.pop()
            elapsed = self.clock() - frame.start
            self._add(name, max(0.0, elapsed - frame.carved))
            if self._open:
                self._open[-1].carved += elapsed

    def carve(self, name: str, seconds: float) -> None:
        """Count ``seconds`` measured inside the open stage to ``name`` instead (the open stage keeps the rest)."""
        seconds = max(0.0, float(seconds))
        self._add(name, seconds)
        if self._open:
            self._open[-1].carved += seconds

    def move(self, source: str, target: str, seconds: float) -> None:
        """Count ``seconds`` (at most what ``source`` holds) to ``target`` instead of ``source``."""
        seconds = min(max(0.0, float(seconds)), self.seconds.get(source, 0.0))
        self._add(source, -seconds)
        self._add(target, seconds)

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def add(self, other: Mapping[str, float]) -> None:
        """Add another run's seconds per stage (an xdist worker's, a shard's); ``total`` is ignored."""
        for name, value in other.items():
            if name != "total" and value is not None:
                self._add(name, float(value))

    def total(self) -> float:
        """Seconds since the run started."""
        return max(0.0, self.clock() - self.started)

    def running(self) -> dict[str, float]:
        """Seconds so far of the stages open now (each exclusive of the stages open inside it)."""
        now, inner = self.clock(), 0.0
        out: dict[str, float] = {}
        for frame in reversed(self._open):
            elapsed = now - frame.start
            out[frame.name] = out.get(frame.name, 0.0) + max(0.0, elapsed - frame.carved - inner)
            inner = elapsed
        return out

    def as_dict(self, total: float | None = None, digits: int = 3) -> dict[str, float]:
        """``{stage: seconds, ..., "total": seconds}`` so far (open stages count up to now): the known stages in
        order (each present), then any others."""
        seconds = dict(self.seconds)
        for name, value in self.running().items():
            seconds[name] = seconds.get(name, 0.0) + value
        names = list(STAGES) + sorted(set(seconds) - set(STAGES))
        out = {name: round(seconds.get(name, 0.0), digits) for name in names}
        out["total"] = round(self.total() if total is None else float(total), digits)
        return out


def line(seconds: Mapping[str, float], stages: tuple[str, ...] = STAGES) -> str:
    """``"time: load 1.2 s, trace 3.0 s, ..."`` (the stages given, in order, then any other that took time, such as
    ``triggers``; ``total`` last when present)."""
    extra = [name for name in seconds if name not in stages and name != "total"
             and float(seconds.get(name) or 0.0) >= 0.05]  # shown as 0.1 s or more
    parts = [f"{name} {float(seconds.get(name) or 0.0):.1f} s" for name in [*stages, *extra]]
    if seconds.get("total") is not None:
        parts.append(f"total {float(seconds['total']):.1f} s")
    return "time: " + ", ".join(parts)
