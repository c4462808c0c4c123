"""The ascent's progress: Keras' Progbar (with ETA) on a terminal, nothing per step in logs, nothing when off.

A real pseudo-terminal stands in for the user's terminal; the bar is Keras' own.
"""
from __future__ import annotations

import os
import re
import select
import sys

import pytest

import amaxcheck
from amaxcheck.ascent.progress import Progress, interactive

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")

# 64 steps in chunks of 16: the bar is updated after 16, 32, 48 and 64 steps. Keras draws the first
# update at once (later ones at most every 50 ms) and always the last, so "16/64" with an ETA and
# the final "64/64" are on the terminal whatever the machine's speed.
FAST = {"steps": 64, "restarts": 1, "check_every": 16}
ETA = re.compile(r"\x1b\[1m(?:\d+:)?\d+(?::\d\d)?s\x1b\[0m \d+(?:us|ms|s)/step")


@pytest.fixture
def terminal():
    """``(stream, read)``: a text stream on the slave side of a fresh pty, and a reader of what reached the master."""
    master, slave = os.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")

    def read() -> str:
        stream.flush()
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            chunks.append(os.read(master, 65536))
        return b"".join(chunks).decode("utf-8")

    yield stream, read
    stream.close()
    os.close(master)


def _segments(text: str) -> list[str]:
    """Each redraw of the bar (Progbar returns to the line start with ``\\r``)."""
    return [s for s in re.split(r"[\r\n]+", text.replace("\b", "")) if s.strip()]


def test_a_terminal_shows_keras_progbar_with_eta_then_the_total(digits_model, terminal, monkeypatch, capsys):
    stream, read = terminal
    monkeypatch.setattr(sys, "stderr", stream)
    amaxcheck.synthesize(digits_model, [0, 1], **FAST)  # progress=None: auto
    shown = _segments(read())
    first = next(s for s in shown if "16/64" in s)
    assert "━" in first and ETA.search(first), shown  # Keras' bar, the ETA and the time per step
    assert "64/64" in shown[-1], shown
    assert capsys.readouterr().out == ""  # the bar goes to stderr, never into the results on stdout


def test_progress_false_prints_nothing_even_on_a_terminal(digits_model, terminal, monkeypatch):
    stream, read = terminal
    monkeypatch.setattr(sys, "stderr", stream)
    amaxcheck.synthesize(digits_model, [0, 1], progress=False, **FAST)
    assert read() == ""


def test_a_log_file_gets_no_per_step_lines_unless_asked(digits_model, tmp_path, monkeypatch):
    log = tmp_path / "ci.log"
    with open(log, "w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        amaxcheck.synthesize(digits_model, [0, 1], **FAST)
        stream.flush()
        assert log.read_text(encoding="utf-8") == ""  # piped/CI: silent
        amaxcheck.synthesize(digits_model, [0, 1], progress=True, **FAST)  # True: on, wherever it goes
    assert "64/64" in log.read_text(encoding="utf-8")


def test_an_interrupted_ascent_ends_the_bar_line_where_it_stopped(terminal):
    stream, read = terminal
    bar = Progress(total=100, stream=stream)
    assert bar.enabled and interactive(stream)
    bar.advance(30)
    bar.close()  # as the engine's ``finally`` does on an error or Ctrl-C
    text = read()
    assert "30/100" in _segments(text)[-1] and text.endswith("\n"), repr(text)
    bar.advance(10)
    bar.close()
    assert read() == ""  # a closed bar draws no more


def test_a_notebook_kernels_stream_counts_as_interactive():
    """Jupyter's stderr is ipykernel's OutStream: no tty, yet Progbar redraws in place there (ipykernel is not a
    dependency, so a stream class from that module stands in for it)."""
    import io

    kernel_stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})()
    assert not kernel_stream.isatty() and interactive(kernel_stream)
    bar = Progress(total=4, stream=kernel_stream)
    bar.advance(4)
    assert "4/4" in kernel_stream.getvalue() and "━" in kernel_stream.getvalue()
    assert not interactive(io.StringIO())
