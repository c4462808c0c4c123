"""Ctrl-C during a command: always "interrupted" and exit 130, never an internal error.

Python raises :class:`KeyboardInterrupt` wherever the main thread happens to
be when SIGINT arrives. Inside TensorFlow's own bookkeeping (a context
manager's ``__enter__``/``__exit__`` half done, e.g. ``tf_stack``'s
"Concurrent access?" assertion) that turns a Ctrl-C into a crash, about once
in forty interrupts. :class:`InterruptGuard` installs a SIGINT handler for the
run that records the interrupt and raises it only at a safe point: at once if
amaxcheck's own code is running, otherwise at the next line of amaxcheck's own
code (a trace function armed only after the interrupt; no cost before). Any
exception that escapes while an interrupt is pending is the interrupt.
Nothing here imports TensorFlow.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any, final

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_THIS_FILE = os.path.abspath(__file__)


def _is_ours(frame: FrameType) -> bool:
    """True for frames running amaxcheck's own code (not this module, not libraries or generated code)."""
    name = frame.f_code.co_filename
    return name.startswith(_PACKAGE) and os.path.abspath(name) != _THIS_FILE


@final
class InterruptGuard:
    """A context manager: SIGINT becomes a :class:`KeyboardInterrupt` raised only in amaxcheck's own code.

    ``pending`` tells whether SIGINT arrived. Outside the main thread (where
    signal handlers cannot be installed) it only reports ``pending = False``.
    With ``restore=False`` later Ctrl-Cs stay ignored after the block (the
    process is about to end: nothing may interrupt its exit).
    """

    def __init__(self, restore: bool = True) -> None:
        self.restore = restore
        self.pending = False
        self._previous: Any = None
        self._installed = False
        self._armed = False

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._disarm()
        if self._installed:
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous if self.restore else signal.SIG_IGN)
            self._installed = False

    def ignore_further(self) -> None:
        """Ignore later Ctrl-Cs (while the interrupt is reported and the process ends)."""
        self._disarm()
        if self._installed:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    # ------------------------------------------------------------------ internals
    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        if frame is None or _is_ours(frame) or sys.gettrace() not in (None, self._trace):
            self._disarm()
            raise KeyboardInterrupt  # amaxcheck's code is running (or a debugger traces): a safe point already
        self._arm(frame)

    def _arm(self, frame: FrameType) -> None:
        """Raise at the next line of amaxcheck's code: in a frame on the stack, or in one called from here on."""
        here: FrameType | None = frame
        while here is not None:
            if _is_ours(here):
                here.f_trace = self._trace
                here.f_trace_lines = True
            here = here.f_back
        self._armed = True
        sys.settrace(self._trace)

    def _disarm(self) -> None:
        if self._armed:
            self._armed = False
            sys.settrace(None)

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not self._armed:
            return None
        if event in ("call", "line") and _is_ours(frame):
            self._disarm()
            raise KeyboardInterrupt
        return self._trace if _is_ours(frame) else None
