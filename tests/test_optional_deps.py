"""Dependency floors and extras: old hypothesis, missing hypothesis, Python 3.10's TOML reader.

Each case that needs a different set of importable packages runs in a fresh
interpreter (a subprocess) that blocks a module with ``sys.modules[name] = None``,
which makes ``import name`` raise ImportError as if it were not installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amaxcheck.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"


def _python(code: str, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# --------------------------------------------------------------------------- hypothesis without a "ci" profile
PROFILES_WITHOUT_BUILTIN_CI = """
    import json
    from hypothesis import HealthCheck, settings

    settings.load_profile("default")
    del settings._profiles["ci"]  # as in hypothesis 6.80 to 6.110, which have no built-in "ci" profile
    import amaxcheck.strategies as ast

    out = {}
    for name in (ast.PROFILE, ast.CI_PROFILE):
        settings.load_profile(name)
        s = settings.default
        out[name] = {"derandomize": s.derandomize, "no_database": s.database is None, "deadline": s.deadline,
                     "print_blob": s.print_blob, "max_examples": s.max_examples,
                     "too_slow": HealthCheck.too_slow in s.suppress_health_check}
    print(json.dumps(out))
"""


def test_both_profiles_register_and_load_when_hypothesis_has_no_ci_profile(tmp_path):
    proc = _python(PROFILES_WITHOUT_BUILTIN_CI, tmp_path)
    assert proc.returncode == 0, proc.stderr
    profiles = json.loads(proc.stdout.strip().splitlines()[-1])
    slow = {"deadline": None, "max_examples": 5, "too_slow": True}
    assert profiles["amaxcheck"] == {**slow, "derandomize": False, "no_database": False, "print_blob": False}
    assert profiles["amaxcheck-ci"] == {**slow, "derandomize": True, "no_database": True, "print_blob": True}


# --------------------------------------------------------------------------- hypothesis not installed
WITHOUT_HYPOTHESIS = """
    import json, sys
    sys.modules["hypothesis"] = None  # not installed
    from amaxcheck.errors import AmaxcheckError

    out = {}
    for module in ("amaxcheck.strategies", "amaxcheck.properties"):
        try:
            __import__(module)
            out[module] = None
        except ImportError as exc:
            out[module] = {"message": str(exc), "amaxcheck_error": isinstance(exc, AmaxcheckError)}
    print(json.dumps(out))
"""


def test_strategies_and_properties_say_how_to_install_hypothesis(tmp_path):
    proc = _python(WITHOUT_HYPOTHESIS, tmp_path)
    assert proc.returncode == 0, proc.stderr
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    for module in ("amaxcheck.strategies", "amaxcheck.properties"):
        assert errors[module] is not None, f"{module} imported without hypothesis"
        assert errors[module]["amaxcheck_error"]
        message = errors[module]["message"]
        assert message.startswith(f"{module} needs hypothesis>=6.80"), message
        assert "pip install 'amaxcheck[hypothesis]'" in message


GATE_WITHOUT_TEST_TOOLS = """
    import sys
    sys.modules["hypothesis"] = None  # extras not installed
    sys.modules["pytest"] = None
    from amaxcheck.cli import main

    sys.argv = ["amaxcheck", "gate", {model!r}, "--steps", "8", "--restarts", "1", "--classes", "0",
                "--json", "report.json"]
    sys.exit(main())
"""


def test_the_gate_needs_neither_pytest_nor_hypothesis(tmp_path):
    proc = _python(GATE_WITHOUT_TEST_TOOLS.format(model=str(EXAMPLE / "digits_cnn.keras")), tmp_path, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "report.json").read_text())["classes"]


# --------------------------------------------------------------------------- TOML on Python 3.10
def test_without_tomllib_or_tomli_a_pyproject_is_an_error_naming_tomli(tmp_path, monkeypatch):
    from amaxcheck.pyproject import load_defaults

    (tmp_path / "pyproject.toml").write_text("[tool.amaxcheck]\nsteps = 16\n")
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigError, match=r"no tomllib.*tomli.*fix: pip install tomli"):
        load_defaults(tmp_path)


def test_without_tomllib_tomli_reads_the_table(tmp_path, monkeypatch):
    pytest.importorskip("tomli")
    from amaxcheck.pyproject import load_defaults

    (tmp_path / "pyproject.toml").write_text("[tool.amaxcheck]\nsteps = 16\n")
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    assert load_defaults(tmp_path).values["steps"] == 16


def test_with_tomllib_the_table_is_read(tmp_path):
    from amaxcheck.pyproject import load_defaults

    (tmp_path / "pyproject.toml").write_text("[tool.amaxcheck]\nsteps = 16\n")
    assert load_defaults(tmp_path).values["steps"] == 16
