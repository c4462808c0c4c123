"""The ascent's progress: Keras' own ``Progbar`` on a terminal or in a notebook, silence in logs.

``Progbar`` draws the bar, the ETA and the time per step, and redraws in place
in Jupyter. It writes to ``sys.stdout``; here it is pointed at the chosen
stream (stderr by default) while it draws, so a gate's results on stdout stay
clean. Where stderr is neither a terminal nor a notebook (CI logs, a file, a
pipe), nothing is written per step: the gate's status lines
(``AMAXCHECK_STATUS=1``) are the only per-stage lines there.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO


def interactive(stream: Any) -> bool:
    """True when ``stream`` is a terminal or a Jupyter/IPython kernel's output stream."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel.")


class Progress:
    """Steps done out of ``total``, shown as a ``keras.utils.Progbar`` on ``stream``.

    ``enabled``: ``None`` shows it only when :func:`interactive` (stream) is true,
    ``True`` always, ``False`` never.
    """

    def __init__(self, total: int, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.done = max(1, int(total)), 0
        self.enabled = interactive(self.stream) if enabled is None else bool(enabled)
        self._bar: Any = None
        if self.enabled:
            from keras.utils import Progbar

            with contextlib.redirect_stdout(self.stream):  # Progbar reads sys.stdout's isatty() here
                self._bar = Progbar(self.total, unit_name="step")

    def advance(self, n: int) -> None:
        self.done = min(self.total, self.done + max(0, int(n)))
        self._draw(finalize=None)

    def close(self) -> None:
        """End the bar's line, also when the ascent stopped early (an error, Ctrl-C)."""
        if self._bar is not None and self.done < self.total:
            self._draw(finalize=True)
        self._bar = None

    def _draw(self, finalize: bool | None) -> None:
        if self._bar is None:
            return
        with contextlib.redirect_stdout(self.stream):
            self._bar.update(self.done, finalize=finalize)
        if self.done >= self.total:
            self._bar = None  # the bar printed its final line
