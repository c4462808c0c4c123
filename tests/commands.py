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
