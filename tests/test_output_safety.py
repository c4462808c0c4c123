"""What the gate refuses to write (issue 13, items 1, 4, 5): its own inputs, one path twice, files it did not write,
stale artifacts of an earlier run, and a read-only file system named as such.

Refusals happen before TensorFlow loads, so those cases run ``amaxcheck.cli.main`` in a fresh interpreter and check
that TensorFlow was never imported. The overwrite and artifact cases run the real ``amaxcheck`` command twice.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from amaxcheck.cli import check_writable, write_error_message
from amaxcheck.errors import AmaxcheckError, ConfigError
from amaxcheck.output.artifacts import MANIFEST, png_bytes, remove_previous, write_manifest
from amaxcheck.output.guard import written_by_amaxcheck

from .test_cli_subprocess import amaxcheck

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
QUICK = ("--steps", "16", "--restarts", "1")


def main_in_fresh_python(*args: str, cwd: Path) -> tuple[int, str, bool]:
    """``amaxcheck.cli.main(args)`` in a new interpreter: (exit code, stderr, whether TensorFlow was imported)."""
    code = ("import sys; from amaxcheck.cli import main; rc = main(sys.argv[1:]); "
            "print('TF' if 'tensorflow' in sys.modules else 'no TF'); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    proc = subprocess.run([sys.executable, "-c", code, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stderr, proc.stdout.strip().endswith("no TF")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """The digits model, labels and reference copied into ``tmp_path`` (the files the gate must not destroy)."""
    for name in ("digits_cnn.keras", "labels.txt", "reference.npz"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    (tmp_path / "sub").mkdir()
    os.symlink("digits_cnn.keras", tmp_path / "link.json")
    return tmp_path


ONTO_INPUTS = [
    (("--json", "digits_cnn.keras"), "is the MODEL file 'digits_cnn.keras'"),
    (("--junit-xml", "sub/../digits_cnn.keras"), "is the MODEL file"),
    (("--markdown", "link.json"), "is the MODEL file"),
    (("--json", "labels.txt"), "is the --labels file 'labels.txt'"),
    (("--markdown", "reference.npz"), "is the --reference file 'reference.npz'"),
    (("--html", "sub/../labels.txt"), "is the --labels file 'labels.txt'"),
    (("--markdown", "r.html", "--html", "r.html"), "--markdown and --html both name 'r.html'"),
    (("--json", "r.json", "--junit-xml", "r.json"), "--json and --junit-xml both name 'r.json'"),
    (("--artifacts", "art", "--json", "art/summary.json"), "is a file --artifacts 'art' writes too"),
]


@pytest.mark.parametrize(("extra", "why"), ONTO_INPUTS, ids=[" ".join(e) for e, _ in ONTO_INPUTS])
def test_outputs_onto_inputs_or_each_other_are_refused_before_tensorflow(inputs, extra, why):
    before = {p: (inputs / p).read_bytes() for p in ("digits_cnn.keras", "labels.txt", "reference.npz")}
    code, err, no_tf = main_in_fresh_python("gate", "digits_cnn.keras", "--labels", "labels.txt",
                                             "--reference", "reference.npz", *extra, cwd=inputs)
    assert code == 2 and no_tf, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and ("another path" in lines[0] or "its own path" in lines[0]
                                                     or "outside that folder" in lines[0]), err
    assert {p: (inputs / p).read_bytes() for p in before} == before


def test_outputs_inside_a_model_folder_are_refused(tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"not touched")
    code, err, no_tf = main_in_fresh_python("gate", "saved", "--unsafe", "--artifacts", "saved/variables",
                                             cwd=tmp_path)
    assert code == 2 and no_tf
    assert "--artifacts 'saved/variables' lies inside the MODEL 'saved' folder" in err
    assert sorted(p.name for p in folder.iterdir()) == ["saved_model.pb"]


@pytest.mark.parametrize(("command", "flag", "what"), [
    ("gate", "--json", "gate JSON document"), ("gate", "--junit-xml", "JUnit XML report"),
    ("gate", "--markdown", "Markdown summary"), ("gate", "--html", "HTML report"), ("show", "-o", "PNG image"),
])
def test_an_unrelated_existing_file_is_not_overwritten(tmp_path, command, flag, what):
    (tmp_path / "mine.txt").write_text("precious\n")
    extra = ("--class", "1") if command == "show" else ()
    code, err, no_tf = main_in_fresh_python(command, str(EXAMPLE / "digits_cnn.keras"), *extra, flag, "mine.txt",
                                             cwd=tmp_path)
    assert code == 2 and no_tf
    assert err.strip() == (f"amaxcheck: error: {flag} 'mine.txt' already exists and is not an amaxcheck {what}, so "
                           "the gate will not replace it; pick another path or delete the file")
    assert (tmp_path / "mine.txt").read_text() == "precious\n"


def test_show_refuses_a_gif_on_its_png_path(tmp_path):
    code, err, no_tf = main_in_fresh_python("show", str(EXAMPLE / "digits_cnn.keras"), "--class", "1",
                                             "-o", "x.gif", "--gif", cwd=tmp_path)
    assert code == 2 and no_tf and "-o and --gif both name 'x.gif'" in err


def test_reruns_replace_their_own_reports_and_artifacts_but_nothing_else(tmp_path):
    """Two real gate runs into the same paths: 4 classes, then 2. Reports are replaced; stale class files go."""
    art = tmp_path / "art"
    art.mkdir()
    (art / "my_notes.txt").write_text("mine\n")
    outs = ("--json", "r.json", "--junit-xml", "r.xml", "--markdown", "r.md", "--html", "r.html", "--artifacts", "art")
    first = amaxcheck("gate", str(EXAMPLE / "digits_cnn.keras"), *QUICK, "--classes", "0,1,2,3", *outs, cwd=tmp_path)
    assert first.returncode in (0, 1), first.stderr
    assert {f"class_00{i}_{i}.{ext}" for i in range(4) for ext in ("png", "npz")} <= {p.name for p in art.iterdir()}
    second = amaxcheck("gate", str(EXAMPLE / "digits_cnn.keras"), *QUICK, "--classes", "0,1", *outs, cwd=tmp_path)
    assert second.returncode in (0, 1), second.stderr
    names = sorted(p.name for p in art.iterdir())
    assert names == sorted(["class_000_0.png", "class_000_0.npz", "class_001_1.png", "class_001_1.npz", "grid.png",
                            "ideal_inputs.npz", "summary.json", MANIFEST, "my_notes.txt"])
    assert (art / "my_notes.txt").read_text() == "mine\n"
    assert len(json.loads((tmp_path / "r.json").read_text())["classes"]) == 2
    assert len(ET.parse(tmp_path / "r.xml").getroot().find("testsuite").findall("testcase")) == 2 * len(
        json.loads((tmp_path / "r.json").read_text())["classes"][0]["checks"]) + 1  # + the model's verdict
    assert all(written_by_amaxcheck(tmp_path / name, kind) for name, kind in
               (("r.json", "json"), ("r.xml", "junit"), ("r.md", "markdown"), ("r.html", "html"), ("art/grid.png", "png")))
    assert (tmp_path / "r.html").read_text(encoding="utf-8").count('<section class="class ') == 2


def test_a_manifest_never_deletes_outside_its_folder(tmp_path):
    folder, outside = tmp_path / "art", tmp_path / "outside.txt"
    folder.mkdir()
    outside.write_text("keep")
    (folder / "sub").mkdir()
    (folder / "old.png").write_bytes(b"old")
    (folder / "mine.txt").write_text("keep")
    os.symlink(outside, folder / "link.png")
    manifest = {"amaxcheck_manifest": 1, "files": ["old.png", "../outside.txt", str(outside), "sub", "link.png",
                                                   "missing.npz", MANIFEST]}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert sorted(remove_previous(folder)) == ["link.png", "old.png"]
    assert outside.read_text() == "keep" and (folder / "sub").is_dir() and (folder / "mine.txt").exists()
    assert (folder / MANIFEST).exists() and not (folder / "old.png").exists()
    write_manifest(folder, ["a.png"])
    assert remove_previous(folder) == []  # a.png was never written: nothing else is touched


def test_previous_outputs_are_recognized_from_their_first_bytes(tmp_path):
    import numpy as np

    cases = {
        "json": ('{\n  "schema_version": 1,\n  "passed": true', '{"passed": true, "schema_version": 1}'),
        "junit": ('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="amaxcheck gate" tests="1">',
                  '<testsuites name="pytest">'),
        "markdown": ("## \u2705 amaxcheck gate PASSED: 0 of 2 classes failing", "# My notes\n"),
        "html": (('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                  '<meta name="generator" content="amaxcheck 0.1.0">'), "<!DOCTYPE html>\n<html><head><title>mine"),
    }
    for kind, (ours, theirs) in cases.items():
        (tmp_path / "ours").write_text(ours + " " * 100_000)  # longer than the prefix read
        (tmp_path / "theirs").write_text(theirs)
        assert written_by_amaxcheck(tmp_path / "ours", kind) and not written_by_amaxcheck(tmp_path / "theirs", kind)
    from PIL import Image

    (tmp_path / "ours.png").write_bytes(png_bytes(np.zeros((4, 4, 1), np.uint8)))
    Image.new("L", (4, 4)).save(tmp_path / "theirs.png")
    assert written_by_amaxcheck(tmp_path / "ours.png", "png") and not written_by_amaxcheck(tmp_path / "theirs.png", "png")
    assert not written_by_amaxcheck(tmp_path / "missing.json", "json")


# --------------------------------------------------------------------------- read-only file systems (item 5)
def test_a_write_failing_with_erofs_says_read_only_file_system():
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/r.json")
    message = write_error_message("--json", "/mnt/ro/r.json", exc)
    assert message == ("cannot write --json '/mnt/ro/r.json': read-only file system; give a path on a writable "
                       "file system")
    assert "permission" not in message


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A read-only bind mount of a folder (skipped where mounting is not permitted)."""
    source, target = tmp_path / "source", tmp_path / "ro"
    source.mkdir()
    target.mkdir()
    for command in (["mount", "--bind", str(source), str(target)], ["mount", "-o", "remount,bind,ro", str(target)]):
        try:
            done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            done = subprocess.CompletedProcess(command, 1, "", str(exc))
        if done.returncode != 0:
            subprocess.run(["umount", str(target)], check=False, capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here ({done.stderr.strip() or done.returncode})")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False, capture_output=True, timeout=30)


def test_check_writable_names_a_read_only_file_system(read_only_folder):
    for path, folder in ((read_only_folder / "r.json", False), (read_only_folder / "new" / "r.json", False),
                         (read_only_folder / "art", True)):
        with pytest.raises(ConfigError) as info:
            check_writable(str(path), "--json", folder=folder)
        assert isinstance(info.value, AmaxcheckError)
        assert "is on a read-only file system; give a path on a writable file system" in str(info.value)
        assert "permission" not in str(info.value)
