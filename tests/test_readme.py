"""The README's "Use it in your project" runs as written, offline, in a stranger's project.

The fenced blocks preceded by ``<!-- readme-test: NAME -->`` are extracted and run
for real: the install lines build amaxcheck's wheel from a copy of this tree and
install it (and, through a local ``git+file://`` URL, the git route) into fresh
virtual environments; ``conftest.py`` and ``test_classifier.py`` are written into
an empty project holding a model under a name of its own with class names that
are not digits; the CI lines (``pytest``, the gate) run there. Every Python block,
run or not (those marked ``names``: the Python API, plugin and hypothesis
examples, which would cost another TensorFlow start each), is checked to define
or import every name it uses and to ask only for fixtures that the plugin or the
README's ``conftest.py`` provides.

Offline: each fresh environment sees the packages of the one running these
tests (TensorFlow, pytest, pip, setuptools...) through a ``.pth`` file naming
views of its ``sys.path`` folders (a symbolic link per entry) that leave out
everything named amaxcheck: its editable install, its metadata and so its
``pytest11`` entry point. So the only amaxcheck there is the one installed from
the README's lines, and the tests assert that it is the one imported. pip runs with ``--no-index`` and
without build isolation (its environment variables, so the README's lines stay
as written), so the build backend is this environment's: ``setuptools>=77``
(``build-system.requires``), which the ``test`` extra installs.
"""
from __future__ import annotations

import ast
import builtins
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: amaxcheck depends on tomli there
    import tomli as tomllib

import amaxcheck

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DIGITS = ROOT / "examples" / "digits"
#: what the wheel is built from (what pyproject.toml's metadata and package discovery read)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "amaxcheck")
GIT_URL = "git+https://github.com/amaxcheck/amaxcheck"
#: the stranger's class names for the bundled 10-class model: no digit among them
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
#: the plugin's fixtures and pytest's own that a README test may ask for besides the conftest's
PLUGIN_FIXTURES = {"amax", "amax_baseline", "amax_cache", "request", "tmp_path", "monkeypatch", "capsys"}
MARK = re.compile(r"<!-- readme-test: (\S+) -->\n```(\w+)\n(.*?)```", re.DOTALL)


# --------------------------------------------------------------------------- the snippets
def readme_snippets() -> list[tuple[str, str, str]]:
    """``(name, language, code)`` of every marked block, in README order."""
    return [(name, lang, code) for name, lang, code in MARK.findall(README.read_text(encoding="utf-8"))]


def snippet(name: str) -> str:
    found = [code for n, _, code in readme_snippets() if n == name]
    assert len(found) == 1, f"README.md must have exactly one block marked <!-- readme-test: {name} -->"
    return found[0]


def test_the_section_follows_two_commands_and_marks_what_it_promises():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[headings.index("Two commands") + 1] == "Use it in your project"
    names = [name for name, _, _ in readme_snippets()]
    for name in ("install-git", "install-wheel", "conftest.py", "test_classifier.py", "ci"):
        assert names.count(name) == 1, name
    assert GIT_URL in snippet("install-git")
    assert "pip wheel --no-deps -w dist ." in snippet("install-wheel")
    assert "pip install amaxcheck\n" not in text and "`pip install amaxcheck`" not in text  # not on an index
    for ci in (ROOT / "examples" / "ci").iterdir():
        assert GIT_URL in ci.read_text(encoding="utf-8"), ci.name


def _undefined_names(code: str) -> set[str]:
    """Names a snippet reads that nothing in it defines or imports (a rough, scope-blind check)."""
    tree = ast.parse(code)
    defined = set(dir(builtins)) | {"__file__", "__name__"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - defined


def _test_arguments(code: str) -> set[str]:
    """Arguments of the snippet's test functions that a fixture must supply (not ``@given`` nor ``parametrize``)."""
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            given = {k.arg for d in node.decorator_list if isinstance(d, ast.Call) and ast.unparse(d.func) == "given"
                     for k in d.keywords}
            given |= {name.strip() for d in node.decorator_list if isinstance(d, ast.Call)
                      and ast.unparse(d.func) == "pytest.mark.parametrize" and isinstance(d.args[0], ast.Constant)
                      for name in str(d.args[0].value).split(",")}
            wanted |= {a.arg for a in node.args.args} - given
    return wanted


def _conftest_fixtures() -> set[str]:
    return {node.name for node in ast.walk(ast.parse(snippet("conftest.py")))
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)}


@pytest.mark.parametrize(("name", "code"), [pytest.param(name, code, id=f"{i}-{name}") for i, (name, lang, code)
                                             in enumerate(readme_snippets()) if lang == "python"])
def test_every_python_snippet_defines_what_it_uses_and_asks_for_known_fixtures(name, code):
    assert not _undefined_names(code), f"README block {name!r} uses undefined names {_undefined_names(code)}"
    unknown = _test_arguments(code) - PLUGIN_FIXTURES - _conftest_fixtures()
    assert not unknown, f"README block {name!r}: no fixture provides {sorted(unknown)}"
    if "@pytest." in code or "pytest.mark" in code:
        assert re.search(r"^import pytest$", code, re.MULTILINE), f"README block {name!r} uses pytest, never imported"


def test_the_name_check_catches_what_the_readme_once_got_wrong():
    old = "import amaxcheck\n\n@pytest.mark.amaxcheck(steps=1)\ndef test_x(amax, digits_model):\n    pass\n"
    assert _undefined_names(old) == {"pytest"}
    assert _test_arguments(old) - PLUGIN_FIXTURES - _conftest_fixtures() == {"digits_model"}


# --------------------------------------------------------------------------- a stranger's machine
def _offline_env(venv: Path) -> dict[str, str]:
    """The environment of an activated ``venv`` with pip offline; nothing of this test run's own leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PIP_", "PYTHON", "VIRTUAL_ENV", "AMAXCHECK_"))}
    # no other amaxcheck console script may stand in for the wheel's
    path = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if p and not (Path(p) / "amaxcheck").exists()]
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), *path]), VIRTUAL_ENV=str(venv), PYTHONHASHSEED="0",
        TF_CPP_MIN_LOG_LEVEL="2", PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0",
        PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
    )
    return env


def _in_this_tree(path: Path) -> bool:
    """A folder of this checkout (its root on ``sys.path`` holds the source) but not its ``.venv``."""
    path = path.resolve()
    return path.is_relative_to(ROOT) and not path.is_relative_to(Path(sys.prefix).resolve())


def _without_amaxcheck(folder: Path, view: Path) -> Path:
    """``view``: a folder of symbolic links to each entry of ``folder`` except those named amaxcheck."""
    view.mkdir(parents=True)
    for entry in folder.iterdir():
        if "amaxcheck" not in entry.name.lower():
            (view / entry.name).symlink_to(entry)
    return view


def _make_venv(where: Path) -> Path:
    """A fresh venv that sees this environment's packages (after its own) and has ``pip``/``pytest`` commands."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    probe = "import json, sys, sysconfig; print(json.dumps([sysconfig.get_paths()['purelib'], sys.path]))"
    site_packages, own = json.loads(subprocess.run([str(where / "bin" / "python"), "-c", probe], capture_output=True,
                                                   text=True, check=True, env={"PATH": os.defpath}).stdout)
    site = Path(site_packages)
    assert site.is_dir() and site.is_relative_to(where), site
    parents = [Path(p) for p in sys.path if p and Path(p).is_dir() and p not in own and not _in_this_tree(Path(p))]
    views = [_without_amaxcheck(folder, where / "parent-path" / str(i)) for i, folder in enumerate(parents)]
    (site / "_amaxcheck_readme_test_parent.pth").write_text("".join(f"{v}\n" for v in views), encoding="utf-8")
    for command, module in (("pip", "pip"), ("pytest", "pytest")):  # what an activated venv with them offers
        shim = where / "bin" / command
        shim.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/python" -m {module} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    return where


def _bash(script: str, cwd: Path, venv: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run README lines as written, in bash, in the activated ``venv``; fail with their output."""
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=_offline_env(venv),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"$ {script}\nexit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _imported_from(venv: Path, module: str) -> Path:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}; print({module}.__file__)"],
                         capture_output=True, text=True, env=_offline_env(venv), cwd=venv, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return Path(out.stdout.strip())


def _require_build_backend() -> None:
    """The wheel is built offline with this environment's setuptools, so it must be the one pyproject asks for."""
    from packaging.requirements import Requirement

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    backend = next(r for r in map(Requirement, requires) if r.name == "setuptools")
    try:
        have: str | None = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        have = None
    if have is None or not backend.specifier.contains(have):
        pytest.fail(f"building amaxcheck's wheel offline needs {backend} in this environment (found "
                    f"{have or 'none'}): `pip install -e '.[test]'` (what `make` runs) installs it", pytrace=False)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One temporary folder for the module, removed at its end whatever happened."""
    folder = Path(tempfile.mkdtemp(prefix="amaxcheck-readme-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def source(scratch: Path) -> Path:
    """A copy of what the wheel is built from, so building leaves nothing in this tree."""
    copy = scratch / "amaxcheck-src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def wheel_venv(scratch: Path, source: Path) -> Path:
    """The README's wheel route: ``pip wheel`` in the checkout, ``pip install`` of the file, in a fresh venv."""
    _require_build_backend()
    venv = _make_venv(scratch / "venv-wheel")
    _bash(snippet("install-wheel"), source, venv, timeout=300)
    return venv


def test_the_wheel_route_installs_the_wheel_and_its_entry_points(wheel_venv, source):
    wheels = list((source / "dist").glob("amaxcheck-*.whl"))
    assert [w.name for w in wheels] == [f"amaxcheck-{amaxcheck.__version__}-py3-none-any.whl"]
    shipped = zipfile.ZipFile(wheels[0]).namelist()
    assert "amaxcheck/py.typed" in shipped and "amaxcheck/pytest_plugin.py" in shipped
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in shipped)
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in shipped)
    assert _imported_from(wheel_venv, "amaxcheck").is_relative_to(wheel_venv)  # the wheel's, not this tree's
    version = subprocess.run([str(wheel_venv / "bin" / "amaxcheck"), "--version"], capture_output=True, text=True,
                             env=_offline_env(wheel_venv), timeout=120, check=False)
    assert version.stdout.strip() == f"amaxcheck {amaxcheck.__version__}", version.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="pip's git route needs git")
def test_the_git_route_installs_from_a_git_url(scratch, source):
    _require_build_backend()
    repo = scratch / "amaxcheck-git"
    shutil.copytree(source, repo, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=60)
    venv = _make_venv(scratch / "venv-git")
    line = snippet("install-git").replace(GIT_URL, f"git+{repo.as_uri()}")
    assert line != snippet("install-git")
    _bash(line, scratch, venv, timeout=300)
    assert _imported_from(venv, "amaxcheck").is_relative_to(venv)


@pytest.fixture(scope="module")
def project(scratch: Path) -> Path:
    """A stranger's project: their model file, their class names, their held-out data, the README's two files."""
    home = scratch / "my-project"
    (home / "models").mkdir(parents=True)
    (home / "data").mkdir()
    shutil.copy2(DIGITS / "digits_cnn.keras", home / "models" / "classifier.keras")
    (home / "models" / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    shutil.copy2(DIGITS / "reference.npz", home / "data" / "reference.npz")
    for name in ("conftest.py", "test_classifier.py"):
        (home / name).write_text(snippet(name), encoding="utf-8")
    return home


def test_the_ci_lines_run_the_readme_tests_and_gate_in_a_strangers_project(wheel_venv, project):
    # --trace-config only adds output: the file each plugin was loaded from
    proc = _bash("export PYTEST_ADDOPTS=--trace-config\n" + snippet("ci"), project, wheel_venv, timeout=400)
    out = proc.stdout
    assert re.search(r"\b2 passed\b", out), out[-3000:]
    plugin = re.search(r"<module 'amaxcheck\.pytest_plugin' from '([^']+)'>", out)
    assert plugin and Path(plugin.group(1)).is_relative_to(wheel_venv), "the plugin must come from the wheel"
    assert f"rootdir: {project}" in out
    report = json.loads((project / "gate" / "report.json").read_text(encoding="utf-8"))
    assert report["passed"] and report["verdict"] == "healthy", report["reasons"]
    assert [c["label"] for c in report["classes"]] == LABELS
    assert report["settings"]["steps"] == 64 and report["settings"]["restarts"] == 2
    assert (project / "gate" / "junit.xml").is_file() and (project / "gate" / "artifacts" / "grid.png").is_file()

