"""Control characters in labels (issue 13, item 2): JUnit XML stays well-formed, a CR cannot split a Markdown row,
no raw ESC reaches the terminal, and the JSON keeps the label exactly as given.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import amaxcheck
from amaxcheck.inputs import read_labels
from amaxcheck.output import reporting
from amaxcheck.output.text import escape_controls, terminal_text, xml_text

from .test_cli_subprocess import amaxcheck as run_amaxcheck

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "digits" / "digits_cnn.keras")

#: ten labels a text file can hold (no LF): ESC sequences, CR inside a line, NUL, C0/C1 controls, separators
NASTY = ["esc\x1b[31mred\x1b[0m\rcr", "nul\x00soh\x01", "fffe\ufffe", "ffff\uffff", "fs\x1cgs\x1drs\x1e",
         "nel\x85", "ls\u2028ps\u2029", "del\x7f", "bidi\u202eevil", "plain"]
RAW_CONTROLS = "\x00\x01\x1b\r\x1c\x1d\x1e\x7f\x85\u2028\u2029\u202e\ufffe\uffff"


def _has_raw_controls(text: str, allowed: str = "\n") -> bool:
    return any(ch in text and ch not in allowed for ch in RAW_CONTROLS)


def test_text_label_files_split_on_lf_only_and_keep_every_other_character(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(("\r\n".join(NASTY[:5]) + "\n" + "\n".join(NASTY[5:]) + "\n\n  \t\n").encode())
    assert read_labels(str(path)) == NASTY


def test_sanitizers_escape_what_each_format_cannot_hold():
    assert escape_controls("a\x1b[0m\r\n\x00\ud800\ufffe\u2028é✅") == "a\\x1b[0m\\x0d\\x0a\\x00\\ud800\\ufffe\\u2028é✅"
    assert terminal_text("plain label") == "plain label"
    assert xml_text("line\nnext\ttab\r\x0b") == "line\nnext\ttab\\x0d\\x0b"


def test_gate_with_control_characters_in_labels(tmp_path):
    """A real gate run: each format either escapes the labels (XML, Markdown, terminal) or keeps them (JSON)."""
    (tmp_path / "labels.txt").write_bytes(("\n".join(NASTY) + "\n").encode())
    proc = run_amaxcheck("gate", DIGITS, "--labels", "labels.txt", "--steps", "16", "--restarts", "1",
                         "--classes", "0,1", "--json", "r.json", "--junit-xml", "r.xml", "--markdown", "r.md",
                         "--artifacts", "art", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert not _has_raw_controls(proc.stdout) and not _has_raw_controls(proc.stderr)
    assert "esc\\x1b[31mred\\x1b[0m\\x0dcr" in proc.stdout

    doc = json.loads((tmp_path / "r.json").read_bytes())
    assert [c["label"] for c in doc["classes"]] == NASTY[:2]

    root = ET.parse(tmp_path / "r.xml").getroot()
    labels = [p.get("value") for p in root.iter("property") if p.get("name") == "label"]
    assert set(labels) == {xml_text(NASTY[0]), xml_text(NASTY[1])}
    assert not _has_raw_controls((tmp_path / "r.xml").read_bytes().decode())

    md = (tmp_path / "r.md").read_bytes().decode()  # bytes: read_text would turn a CR into a line break
    assert not _has_raw_controls(md)
    table = [line for line in md.split("\n")[4:] if line.startswith("|")][:4]
    assert len(table) == 4 and all(len(re.findall(r"(?<!\\)\|", line)) == 8 for line in table), table  # 7 cells
    assert (tmp_path / "art" / "grid.png").is_file()


def test_lone_surrogates_from_json_labels_reach_no_output_raw(digits_model, tmp_path):
    """JSON label files can hold anything, lone surrogates included (UTF-8 cannot encode them)."""
    (tmp_path / "labels.json").write_text(json.dumps(["half\ud800", "other\udfff"] + [f"d{i}" for i in range(2, 10)]))
    labels = read_labels(str(tmp_path / "labels.json"))
    assert labels[:2] == ["half\ud800", "other\udfff"]
    result = amaxcheck.synthesize(digits_model, [0, 1], labels=labels, steps=16, restarts=1, progress=False)
    doc = reporting.build_document(amaxcheck.check(result, digits_model, verdict=False), {})
    assert json.loads(reporting.to_json(doc))["classes"][0]["label"] == "half\ud800"
    reporting.write_junit(doc, tmp_path / "r.xml")
    reporting.write_markdown(doc, tmp_path / "r.md")
    assert ET.parse(tmp_path / "r.xml").getroot().get("name") == "amaxcheck gate"
    assert "half\\ud800" in (tmp_path / "r.md").read_text(encoding="utf-8")
    reporting.terminal_table(doc).encode("utf-8")  # printable on a UTF-8 terminal
