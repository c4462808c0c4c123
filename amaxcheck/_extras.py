"""Optional dependencies ("extras"): importing a module that needs a missing one says how to install it.

The gate and the Python API need only the runtime dependencies;
:mod:`amaxcheck.strategies` and :mod:`amaxcheck.properties` need hypothesis,
installed with ``pip install 'amaxcheck[hypothesis]'``. This module imports
nothing heavy.
"""
from __future__ import annotations

from .errors import AmaxcheckError

#: the lowest version of each optional dependency amaxcheck is tested with (pyproject.toml's extras)
MINIMUM_VERSIONS = {"hypothesis": "6.80"}


class MissingExtraError(AmaxcheckError, ImportError):
    """An optional dependency of the imported amaxcheck module is not installed (or too old to import)."""


def missing_extra(package: str, extra: str, importer: str, cause: BaseException) -> MissingExtraError:
    """The error to raise from ``importer`` when importing ``package`` failed with ``cause``."""
    floor = MINIMUM_VERSIONS.get(package)
    wanted = f"{package}>={floor}" if floor else package
    return MissingExtraError(
        f"{importer} needs {wanted}, which could not be imported ({cause}). "
        f"Install it with: pip install 'amaxcheck[{extra}]'",
        name=package,
    )
