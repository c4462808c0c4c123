"""Every example runs as its README says, so none can rot."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from amaxcheck.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
SHORTCUT = ROOT / "examples" / "shortcut"


def _gate(model: Path, tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / "gate"
    code = main([
        "gate", str(model), "--labels", str(DIGITS / "labels.txt"), "--reference", str(DIGITS / "reference.npz"),
        "--json", str(out / "report.json"), "--artifacts", str(out / "artifacts"), "--quiet",
    ])
    return code, json.loads((out / "report.json").read_text())


def test_digits_example_passes_the_gate(tmp_path):
    code, report = _gate(DIGITS / "digits_cnn.keras", tmp_path)
    assert code == 0 and report["passed"] and not report["degenerate"]
    assert (tmp_path / "gate/artifacts/grid.png").is_file()


def test_shortcut_example_fails_the_gate_on_class_0_and_the_grid_shows_why(tmp_path):
    code, report = _gate(SHORTCUT / "shortcut_cnn.keras", tmp_path)
    assert code == 1 and not report["passed"]
    failing = {c["label"]: [k["name"] for k in c["checks"] if k["status"] == "fail"] for c in report["classes"]}
    assert "reference_recall" in failing["0"]
    assert all("reference_recall" not in v for label, v in failing.items() if label != "0")
    zero = next(c for c in report["classes"] if c["label"] == "0")
    assert zero["confidence"] > 0.9  # the model is sure about its "0"...
    recall = next(k for k in zero["checks"] if k["name"] == "reference_recall")
    assert recall["value"] < 0.3  # ...yet misses most real zeros
    # The ideal "0" carries the stamp: its top-left corner is brighter than the rest of the image.
    arrays = np.load(tmp_path / "gate/artifacts/class_000_0.npz")
    images = arrays["images"][..., 0]
    assert (images[:, :3, :3].mean() - images[:, 4:, 4:].mean()) > 0.1


@pytest.mark.parametrize("script", ["digits/train.py", "shortcut/train.py", "backdoor/train.py"])
def test_training_scripts_run(script, tmp_path):
    out = tmp_path / ("model" if script.startswith("digits") else "trained.keras")
    args = ["--out", str(out), "--epochs", "1"]
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout
    written = out / "digits_cnn.keras" if script.startswith("digits") else out
    assert written.is_file()


def test_digits_example_tests_pass_with_the_plugin_and_hypothesis(tmp_path):
    """examples/digits holds the tests a user copies: plugin fixtures, marker, baseline, hypothesis properties."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(DIGITS), "-q", "-p", "no:cacheprovider",
         "--amax-artifacts-dir", str(tmp_path / "artifacts"), "--hypothesis-profile", "ci"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "6 passed" in proc.stdout
