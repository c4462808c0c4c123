"""Keeping TensorFlow quiet while the CLI imports and starts it.

TensorFlow's C++ runtime writes log lines straight to file descriptor 2 at
import and device start; :func:`native_stderr_captured` holds them back (and
replays them when something unexpected escapes), :func:`quiet_tensorflow_logging`
turns its Python and C++ loggers down to errors. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from .errors import AmaxcheckError


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
        except (AmaxcheckError, KeyboardInterrupt):  # explained by amaxcheck, or Ctrl-C: nothing to replay
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


def quiet_tensorflow_logging() -> None:
    """TensorFlow's C++ and Python loggers down to errors (retracing notices are not the user's business)."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass
