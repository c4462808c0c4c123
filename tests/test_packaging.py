"""What pyproject.toml promises a user: runtime needs only, test tools as extras, typed, licensed.

This reads the declarations; tests/test_readme.py builds the wheel offline (the
README's `pip wheel --no-deps -w dist .`, without build isolation) and checks that
it ships ``amaxcheck/py.typed`` and ``dist-info/licenses/LICENSE``.
"""
from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: amaxcheck depends on tomli there
    import tomli as tomllib

from amaxcheck._extras import MINIMUM_VERSIONS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_runtime_dependencies_are_what_the_gate_and_api_need():
    project = PROJECT["project"]
    assert _names(project["dependencies"]) == {"tensorflow", "keras", "numpy", "scikit-image", "scipy", "pillow",
                                                        "tomli"}
    tomli = next(r for r in project["dependencies"] if r.startswith("tomli"))
    assert "python_version < '3.11'" in tomli.replace('"', "'")


def test_test_tools_are_extras_with_their_floors():
    extras = PROJECT["project"]["optional-dependencies"]
    assert extras["pytest"] == ["pytest>=7.4"]
    assert extras["hypothesis"] == [f"hypothesis>={MINIMUM_VERSIONS['hypothesis']}"]
    assert {"pytest", "hypothesis", "scikit-learn", "pytest-xdist"} <= _names(extras["test"])
    # the README test builds the wheel without build isolation: the test environment brings the build backend
    assert [r for r in PROJECT["build-system"]["requires"] if r.startswith("setuptools")] == \
        [r for r in extras["test"] if r.startswith("setuptools")]


def test_license_is_an_spdx_expression_with_the_full_text():
    project = PROJECT["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # setuptools refuses both
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    requires = PROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)


def test_the_package_is_marked_typed_and_ships_the_marker():
    assert (ROOT / "amaxcheck" / "py.typed").is_file()
    assert "py.typed" in PROJECT["tool"]["setuptools"]["package-data"]["amaxcheck"]
    assert "Typing :: Typed" in PROJECT["project"]["classifiers"]


def test_classifiers_and_urls():
    classifiers = set(PROJECT["project"]["classifiers"])
    for version in ("3.10", "3.11", "3.12"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert {"Operating System :: OS Independent", "Framework :: Pytest", "Framework :: Hypothesis",
            "Topic :: Scientific/Engineering :: Artificial Intelligence"} <= classifiers
    urls = PROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Issues"}
    assert all(u.startswith("https://github.com/amaxcheck/amaxcheck") for u in urls.values())
