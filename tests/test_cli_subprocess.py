"""The installed ``amaxcheck`` console script, run as a real process (exit codes, clean stderr, fast exit)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .commands import amaxcheck_command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
DIGITS = str(EXAMPLE / "digits_cnn.keras")


def amaxcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run([*amaxcheck_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_gate_passes_with_exit_0_and_writes_json(tmp_path):
    proc = amaxcheck("gate", DIGITS, "--labels", str(EXAMPLE / "labels.txt"), "--reference", str(EXAMPLE / "reference.npz"),
                     "--steps", "32", "--restarts", "1", "--classes", "0,3", "--json", "report.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "amaxcheck gate PASSED" in proc.stdout.splitlines()[-1]
    assert "Traceback" not in proc.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["passed"] is True and doc["gate"]["command"][:3] == ["amaxcheck", "gate", DIGITS]


def test_error_before_tensorflow_is_one_line(tmp_path):
    proc = amaxcheck("gate", "missing.keras", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["amaxcheck: error: model not found: 'missing.keras' does not exist"]


def test_error_after_tensorflow_is_one_line_without_its_log_noise(tmp_path):
    (tmp_path / "two.txt").write_text("a\nb\n")
    proc = amaxcheck("gate", DIGITS, "--labels", "two.txt", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("amaxcheck: error: --labels 'two.txt' has 2 names but the model has 10 classes")


def test_debug_shows_the_traceback(tmp_path):
    proc = amaxcheck("gate", "missing.keras", "--debug", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and proc.stderr.strip().endswith("does not exist")
