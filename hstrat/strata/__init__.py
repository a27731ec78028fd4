"""Where strata come from: masks, labels keyed by id, callables over metadata."""

from .._stratum import POPULATIONS, Stratum, as_strata
from ._resolve import resolve_strata

__all__ = ["POPULATIONS", "Stratum", "as_strata", "resolve_strata"]
