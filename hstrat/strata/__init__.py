"""Where strata come from: masks, labels keyed by id, callables over metadata."""

from .._stratum import POPULATIONS, Stratum, as_strata, intersections
from ._agreement import KappaResult, agreement, cohen_kappa, disagreements, merge_labels
from ._labeler import make_labeler_server, serve_labeler
from ._review import review_sample
from ._rules import Rule
from ._schema import Schema, Variable, read_labels

__all__ = [
    "POPULATIONS",
    "KappaResult",
    "Rule",
    "Schema",
    "Stratum",
    "Variable",
    "agreement",
    "as_strata",
    "cohen_kappa",
    "disagreements",
    "intersections",
    "make_labeler_server",
    "merge_labels",
    "read_labels",
    "review_sample",
    "serve_labeler",
]
