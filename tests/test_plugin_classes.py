"""One test per class, spread over pytest-xdist workers, reports what one run over every class reports (issue 15).

A real ``pytest -n 2`` run (pytester, subprocess) of a module parametrized with
``amaxcheck.each_class`` on the bundled digits model: each class test
synthesizes only its class on whichever worker runs it, and writes what it saw
(the images, the confidence, the class outcome, the verdict and
the worker) to a JSON file. Those must equal, class for class, one synthesis
of all ten classes in this process at the same settings.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import amaxcheck
from amaxcheck.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
SETTINGS = {"steps": 48, "restarts": 2}

CONFTEST = f"""
import pytest

@pytest.fixture(scope="session")
def digits_model():
    import keras
    return keras.saving.load_model({str(EXAMPLE / "digits_cnn.keras")!r})
"""

TESTS = f"""
import json, os
import numpy as np
import pytest
import amaxcheck

REF = np.load({str(EXAMPLE / "reference.npz")!r})


@pytest.mark.parametrize("digit", amaxcheck.each_class({str(EXAMPLE / "labels.txt")!r}))
def test_digit(amax, digits_model, digit):
    result = amax.synthesize(digits_model, classes=[digit])
    report = amax.check(result, digits_model, reference=REF["x"], reference_labels=REF["y"])
    seen = report.for_class(digit)
    np.save(f"images-{{digit}}.npy", result.images)
    out = {{"confidence": seen.confidence, "passed": seen.passed, "verdict": report.verdict,
           "worker": os.environ.get("PYTEST_XDIST_WORKER")}}
    with open(f"seen-{{digit}}.json", "w") as f:
        json.dump(out, f)
    assert seen.passed, seen
"""


def test_classes_spread_over_xdist_workers_report_what_one_run_reports(pytester: pytest.Pytester, digits_model):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_classes=TESTS)
    run = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "-p", "no:cacheprovider", "-v",
                                        "--amax-steps", str(SETTINGS["steps"]),
                                        "--amax-restarts", str(SETTINGS["restarts"]), timeout=300)
    run.assert_outcomes(passed=10)
    labels = (EXAMPLE / "labels.txt").read_text().split()
    assert all(f"test_digit[{name}]" in run.stdout.str() for name in labels)  # ids are the labels
    seen = {c: json.loads((pytester.path / f"seen-{c}.json").read_text()) for c in range(10)}
    assert {s["worker"] for s in seen.values()} == {"gw0", "gw1"}, "both workers ran class tests"

    ref = np.load(EXAMPLE / "reference.npz")
    whole = amaxcheck.synthesize(digits_model, "all", progress=False, **SETTINGS)
    report = amaxcheck.check(whole, digits_model, reference=ref["x"], reference_labels=ref["y"])
    for c in range(10):
        mine = whole.images[whole.classes == c]
        # the same ascent; float sums may round differently in a batch of 2 samples than in one of 20
        np.testing.assert_allclose(np.load(pytester.path / f"images-{c}.npy"), mine, atol=1e-5)
        assert seen[c]["confidence"] == pytest.approx(report.for_class(c).confidence, abs=1e-4)
        assert seen[c]["passed"] == report.for_class(c).passed
        assert seen[c]["verdict"] == report.verdict == "healthy"


def test_each_class_ids_subsets_and_errors(tmp_path):
    params = amaxcheck.each_class(EXAMPLE / "labels.txt")
    names = (EXAMPLE / "labels.txt").read_text().split()
    assert [p.values[0] for p in params] == list(range(10)) and [p.id for p in params] == names
    assert [p.values[0] for p in amaxcheck.each_class(["cat", "dog", "eel"], classes=["eel", 0])] == [2, 0]
    assert [p.values[0] for p in amaxcheck.each_class(3, classes=np.arange(3)[1:].tolist() + [np.int64(0)])] == [1, 2, 0]
    with pytest.raises(ConfigError, match=r"unknown classes \[True, 3\]"):
        amaxcheck.each_class(3, classes=[True, 3])
    assert [p.id for p in amaxcheck.each_class(3)] == ["0", "1", "2"]
    with pytest.raises(ConfigError, match=r"unknown classes \['emu'\]; pass indices 0..2 or names"):
        amaxcheck.each_class(["cat", "dog", "eel"], classes=["emu"])
    with pytest.raises(ConfigError, match="labels must be class names"):
        amaxcheck.each_class(0)
    with pytest.raises(amaxcheck.AmaxcheckError):
        amaxcheck.each_class(tmp_path / "missing.txt")
