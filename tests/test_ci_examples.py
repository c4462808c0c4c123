"""The sharded CI examples (examples/ci/*-sharded.yml) run commands the real CLI accepts.

The ``amaxcheck gate``/``merge`` commands are read from the YAML text (folded ``>`` blocks), the CI
variables filled in, and parsed with the CLI's own argparse parser; PyYAML, when installed, also checks
that the files are YAML and that the matrix or ``parallel:`` count is the shard count.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from amaxcheck.cli import build_parser
from amaxcheck.output.merge import parse_shard

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"
FILES = {"github": CI / "github-actions-sharded.yml", "gitlab": CI / "gitlab-ci-sharded.yml"}
VARIABLES = {"${{ matrix.shard }}": "2", "$CI_NODE_INDEX": "2", "$CI_NODE_TOTAL": "4"}


def commands(text: str) -> list[list[str]]:
    """Every ``amaxcheck ...`` command of a YAML file: a folded block's lines joined, comments dropped."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("amaxcheck "):
            indent = len(line) - len(line.lstrip())
            words = [line.strip()]
            while i + 1 < len(lines) and len(lines[i + 1]) - len(lines[i + 1].lstrip()) >= indent \
                    and lines[i + 1].strip():
                i += 1
                words.append(lines[i].strip())
            command = " ".join(words)
            for name, value in VARIABLES.items():
                command = command.replace(name, value)
            out.append(shlex.split(command, comments=True))
        i += 1
    return out


def shard_count(name: str, text: str) -> int:
    if name == "github":
        match = re.search(r"^\s+shard: \[([0-9, ]+)\]", text, re.MULTILINE)
        assert match, "no matrix of shards"
        return len(match.group(1).split(","))
    match = re.search(r"^\s+parallel: (\d+)", text, re.MULTILINE)
    assert match, "no parallel: count"
    return int(match.group(1))


@pytest.mark.parametrize("name", sorted(FILES))
def test_sharded_ci_example_runs_real_commands(name):
    text = FILES[name].read_text(encoding="utf-8")
    found = commands(text)
    assert [c[:2] for c in found] == [["amaxcheck", "gate"], ["amaxcheck", "merge"]], found
    parser = build_parser()
    gate, merge = (parser.parse_args(c[1:]) for c in found)
    n = shard_count(name, text)
    assert parse_shard(gate.shard) == (2, n) and n > 1
    assert gate.artifacts and gate.html and gate.html.startswith(gate.artifacts.rstrip("/") + "/")
    assert merge.parts and all(p.endswith("*") for p in merge.parts)  # every shard's part, by a glob
    assert merge.json and merge.junit_xml and merge.markdown and merge.html and merge.artifacts
    if name == "gitlab":  # the parts are the shards' own --artifacts folders
        assert merge.parts == [gate.artifacts.replace("2", "*")]
        assert f"junit: {merge.junit_xml}" in text
    else:  # uploaded per shard, downloaded side by side into parts/
        assert "name: amaxcheck-part-${{ matrix.shard }}" in text and f"path: {gate.artifacts}/" in text
        assert merge.parts == ["parts/amaxcheck-part-*"] and "path: parts" in text
    try:
        import yaml
    except ImportError:
        return
    data = yaml.safe_load(text)
    if name == "github":
        assert len(data["jobs"]["gate"]["strategy"]["matrix"]["shard"]) == n
        assert data["jobs"]["merge"]["needs"] == "gate"
    else:
        assert data["model-gate"]["parallel"] == n and data["model-gate-merge"]["needs"] == ["model-gate"]
