"""Public home of the image statistics (``from amaxcheck import stats``).

The implementation lives in :mod:`amaxcheck.verdict.stats`; importing this
module gives that same module object, so ``amaxcheck.stats.autocorrelation``
and every other documented function keep their import path.
"""
import sys

from .verdict import stats as _stats

sys.modules[__name__] = _stats
