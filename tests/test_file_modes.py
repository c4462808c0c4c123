"""Files amaxcheck writes get the permissions ``open()`` gives, not ``mkstemp``'s 0600 (defect 3)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from amaxcheck._atomic import atomic_write_bytes, atomic_write_text, current_umask
from amaxcheck.output.reporting import append_step_summary

from .commands import amaxcheck_command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, restored afterwards."""
    saved = os.umask(0o022)

    def set_to(value: int) -> None:
        os.umask(value)

    yield set_to
    os.umask(saved)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640), (0o002, 0o664)],
                         ids=["umask022", "umask077", "umask027", "umask002"])
def test_a_new_file_gets_what_open_would_give(tmp_path, umask, mask, expected):
    umask(mask)
    path = atomic_write_text(tmp_path / "sub" / "report.json", "{}")
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    assert mode(path) == expected == mode(tmp_path / "plain.txt")


def test_the_umask_is_read_without_changing_it(umask):
    umask(0o027)
    assert current_umask() == 0o027
    assert os.umask(0o027) == 0o027  # still what was set


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_replacing_a_file_keeps_its_mode(tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "baseline.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and mode(path) == 0o640


def test_a_failed_write_leaves_the_file_and_its_mode(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    os.chmod(path, 0o604)

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    from amaxcheck._atomic import atomic_write_with

    with pytest.raises(RuntimeError):
        atomic_write_with(path, broken)
    assert path.read_text() == "old" and mode(path) == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_the_step_summary_keeps_its_mode_when_appended_to(tmp_path, umask):
    umask(0o077)
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    os.chmod(summary, 0o644)
    append_step_summary("## amaxcheck\n", environ={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text() == "# earlier step\n\n## amaxcheck\n"
    assert mode(summary) == 0o644


def test_a_gate_run_writes_files_others_can_read_under_umask_022(tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    os.chmod(summary, 0o640)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GITHUB_STEP_SUMMARY": str(summary)}
    args = ["gate", str(EXAMPLE / "digits_cnn.keras"), "--steps", "8", "--restarts", "1", "--classes", "0",
            "--json", "report.json", "--junit-xml", "report.xml", "--markdown", "report.md", "--artifacts", "art"]
    proc = subprocess.run([*amaxcheck_command(), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, umask=0o022)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "report.json").read_text())["classes"]
    written = [tmp_path / n for n in ("report.json", "report.xml", "report.md")] + sorted((tmp_path / "art").iterdir())
    assert {p.name: oct(mode(p)) for p in written} == {p.name: oct(0o644) for p in written}
    assert "amaxcheck" in summary.read_text() and mode(summary) == 0o640
