"""The pytest plugin costs nothing when unused: no TensorFlow at load, cheap option errors, registered marker.

Every run here stays TensorFlow-free, so these tests take about a second each.
"""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest

HEAVY = ("tensorflow", "keras", "tf_keras")

UNRELATED_CONFTEST = """
import json, sys

def pytest_sessionfinish(session):
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
    with open("loaded.json", "w") as f:
        json.dump({{"heavy": heavy, "plugin": "amaxcheck.pytest_plugin" in sys.modules}}, f)
"""

UNRELATED_TEST = """
import pytest

def test_plain_arithmetic():
    assert 1 + 1 == 2

@pytest.mark.amaxcheck(steps=8, restarts=1)
def test_marked_but_not_using_amax():
    assert True
"""


def test_plugin_module_imports_no_tensorflow():
    """``python -X importtime`` lists every module imported by loading the plugin: none may be TF/Keras."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import amaxcheck.pytest_plugin"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "amaxcheck.pytest_plugin" in imported
    heavy = [m for m in imported if m.split(".")[0] in HEAVY]
    assert heavy == [], f"loading the plugin imported {heavy[:5]}"


def _write_unrelated(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(UNRELATED_CONFTEST.format(heavy=HEAVY))
    pytester.makepyfile(test_unrelated=UNRELATED_TEST)


@pytest.mark.parametrize("extra", [["--collect-only"], ["-p", "no:cacheprovider", "--strict-markers"]])
def test_unrelated_runs_load_the_plugin_but_no_tensorflow(pytester: pytest.Pytester, extra: list[str]):
    """``--collect-only`` and a real run of plugin-unrelated tests: the plugin is active, TensorFlow never imported."""
    _write_unrelated(pytester)
    result = pytester.runpytest_subprocess(*extra)
    assert result.ret == 0, result.stdout.str()
    loaded = json.loads((pytester.path / "loaded.json").read_text())
    assert loaded == {"heavy": [], "plugin": True}
    if "--strict-markers" in extra:  # the marker is registered, so --strict-markers accepts it
        result.assert_outcomes(passed=2)


def test_report_header_shows_versions_seed_and_settings(pytester: pytest.Pytester):
    """Versions come from package metadata (no import); ini twins feed the header."""
    _write_unrelated(pytester)
    pytester.makeini("[pytest]\namax_steps = 7\namax_seed = 3\namax_artifacts = always\n")
    result = pytester.runpytest_subprocess("--collect-only", "--amax-restarts", "2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        f"amaxcheck * (tensorflow {metadata.version('tensorflow')}, keras {metadata.version('keras')}): "
        "seed 3, steps 7, restarts 2",
        f"amaxcheck artifacts: always -> {pytester.path / 'amaxcheck-artifacts' / 'pytest'}; baselines: *",
    ])
    assert json.loads((pytester.path / "loaded.json").read_text())["heavy"] == []


def test_markers_are_listed(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.amaxcheck(steps=..., restarts=..., seed=..., **synthesize_kwargs):*"])


@pytest.mark.parametrize("args, ini, expected", [
    (["--amax-artifacts", "sometimes"], None,
     "*--amax-artifacts must be one of always, on-failure, never, got 'sometimes'*"),
    (["--amax-steps", "many"], None, "*--amax-steps must be an integer >= 1, got 'many'*"),
    (["--amax-seed=-1"], None, "*--amax-seed must be an integer >= 0, got '-1'*"),
    ([], "amax_restarts = 0", "*ini option amax_restarts in *tox.ini must be an integer >= 1, got '0'*"),
    ([], "amax_update_baselines = maybe", "*ini option amax_update_baselines in *tox.ini must be true or false*"),
])
def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester, args, ini, expected):
    """Bad values stop the run before any test, with a message naming the option (or ini key and file)."""
    _write_unrelated(pytester)
    if ini:
        pytester.makefile(".ini", tox=f"[pytest]\n{ini}\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
