"""Option values that start with a minus (``--input-range -1,1``) are values, through the real command.

argparse before Python 3.13 read ``-1,1`` as an unknown option and stopped
with "expected one argument". These runs end before TensorFlow is imported (the
model file does not exist, or the value itself is refused), so the message on
stderr shows what the parser made of the value.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .commands import amaxcheck_command


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run([*amaxcheck_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["gate"], ["show", "--class", "0", "-o", "out.png"]])
@pytest.mark.parametrize("value", ["-1,1", "-128,127", "-0.5,0.5", "-.5,.5"])
def test_a_negative_input_range_is_accepted_as_typed(tmp_path, command, value):
    proc = _run(command[0], "missing.keras", *command[1:], "--input-range", value, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["amaxcheck: error: model not found: 'missing.keras' does not exist"]


def test_the_negative_value_reaches_its_check(tmp_path):
    proc = _run("gate", "missing.keras", "--input-range", "-1,-3", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--input-range must satisfy lo < hi" in proc.stderr and "'-1,-3'" in proc.stderr, proc.stderr


def test_a_negative_number_for_an_integer_option_gets_that_options_message(tmp_path):
    proc = _run("gate", "missing.keras", "--seed", "-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "argument --seed: expected an integer >= 0, got -1" in proc.stderr, proc.stderr


def test_an_option_followed_by_another_option_still_misses_its_value(tmp_path):
    proc = _run("gate", "missing.keras", "--input-range", "--steps", "3", cwd=tmp_path)
    assert proc.returncode == 2
    assert "argument --input-range: expected one argument" in proc.stderr, proc.stderr
