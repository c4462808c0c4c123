"""The real ``amaxcheck`` command for subprocess tests: the installed console script, or ``python -c`` without it."""
from __future__ import annotations

import sys
from pathlib import Path


def amaxcheck_command() -> list[str]:
    """The argv prefix that runs the ``amaxcheck`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("amaxcheck")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from amaxcheck.cli import main; sys.exit(main())"]


def isolate_gate(tmp_path: Path, monkeypatch) -> None:
    """Run the gate in-process from an empty folder: no pyproject.toml above ``tmp_path`` is read, no step summary.

    ``find_pyproject`` is limited to ``tmp_path`` and below, so the test machine's folders above it do not leak in.
    """
    from amaxcheck import pyproject as config

    real = config.find_pyproject
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setattr(config, "find_pyproject",
                        lambda start=None: (lambda p: p if p is not None and tmp_path in p.parents else None)(real(start)))
