"""What an audit found, in words: the one source of ``print(report)`` and the HTML findings.

A **finding** is a stratum whose verdict (:func:`hstrat.metrics._stratified.verdicts`,
which also colours the forest plot) is "worse"; "Reading a report" shows its sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..metrics._stratified import verdicts

__all__ = ["Finding", "Findings", "display_names", "findings"]

_METHODS = {"kmeans": "k-means", "gaussianmixture": "Gaussian mixture"}
_CORRECTIONS = {"holm": "Holm-adjusted p", "fdr_bh": "Benjamini-Hochberg-adjusted p"}
_RULES = {"youden": "Youden's J"}


@dataclass(frozen=True)
class Finding:
    """One stratum the model is significantly worse on."""

    stratum: str
    title: str
    text: str


@dataclass(frozen=True)
class Findings:
    """The words of a report: headline lines, the findings, and notes after them."""

    headline: list[str]
    lead: str
    items: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Return the plain text ``print(report)`` shows."""
        lines = [*self.headline, "", self.lead]
        lines += [f"- {item.title}: {item.text}" for item in self.items]
        return "\n".join([*lines, *([""] if self.notes else []), *self.notes])


def is_cluster(row: Any) -> bool:
    """Whether a table row is a detector's cluster (not overall, not a given stratum)."""
    return str(row.get("family", "strata")) not in ("strata", "overall")


def method_name(family: str) -> str:
    """Return the readable name of a detector ("k-means" for ``kmeans``)."""
    return _METHODS.get(family, family)


def display_names(table: pd.DataFrame) -> list[str]:
    """Readable names of the table's rows: clusters as "cluster 1 of the positives (k-means)"."""
    counts: dict[tuple[str, str], int] = {}
    names = []
    for _, row in table.iterrows():
        if not is_cluster(row):
            names.append(str(row["stratum"]))
            continue
        key = (str(row["family"]), str(row["population"]))
        counts[key] = counts.get(key, 0) + 1
        method = method_name(key[0])
        whose = "" if key[1] == "all" else f" of the {key[1]}"
        names.append(f"cluster {counts[key]}{whose} ({method})")
    return names


def _titled(name: str, row: Any) -> str:
    """Add the stratum's size: "drain=no (39 positives)", "cluster 1 (k-means, 39 cases)"."""
    population = str(row["population"])
    if population in ("positives", "negatives"):
        count = int(row["n_pos" if population == "positives" else "n_neg"])
        size, own = f"{count:,} cases", f"{count:,} {population}"
    else:
        size = own = f"{int(row['n_pos']):,} positive and {int(row['n_neg']):,} negative cases"
    return f"{name[:-1]}, {size})" if is_cluster(row) else f"{name} ({own})"


def _sentence(row: Any, overall: Any, level: float, p_name: str) -> str:
    population = str(row["population"])
    whom = population if population in ("positives", "negatives") else "cases"
    reference = (
        f"{row['reference_auc']:.3f} overall"
        if row.get("reference") == "overall"
        else f"{row['reference_auc']:.3f} in the other {whom}"
    )
    caveat = ", unreliable: few cases" if "unreliable" in str(row.get("note", "")) else ""
    parts = [
        f"AUC {row['auc']:.3f} ({level:.0%} CI {row['auc_low']:.3f} to {row['auc_high']:.3f}"
        f"{caveat}) against {reference}"
    ]
    rates = {"positives": ["sensitivity"], "negatives": ["specificity"]}.get(
        population, ["sensitivity", "specificity"]
    )
    for rate in rates:
        if rate in row and np.isfinite(row[rate]):
            group = "positives" if rate == "sensitivity" else "negatives"
            parts.append(
                f"{rate} at the operating point {row[rate]:.2f} against {overall[rate]:.2f} "
                f"for all {group}"
            )
    test = " (permutation test)" if row.get("test") == "permutation" else ""
    parts.append(f"{p_name} = {float(row['p_adjusted']):.2g}{test}")
    return "; ".join(parts) + "."


def findings(
    table: pd.DataFrame,
    provenance: dict[str, Any],
    threshold: float,
    clusters: pd.DataFrame | None = None,
) -> Findings:
    """Say what the audit found, from a report's table, provenance, threshold and clusters."""
    level = float(provenance.get("confidence_level", 0.95))
    alpha = 1.0 - level
    correction = provenance.get("correction")
    p_name = _CORRECTIONS.get(str(correction), "p (not adjusted)")
    overall = table.iloc[0]
    target = provenance.get("target")
    headline = [
        f"hstrat audit of {int(overall['n']):,} cases ({int(overall['n_pos']):,} positive, "
        f"{int(overall['n_neg']):,} negative)"
        + (f", target {target}" if target not in (None, "") else "")
    ]
    method = str(overall.get("ci_method", "")).replace("-", " ").replace("delong", "DeLong")
    sentence = (
        f"Overall AUC {overall['auc']:.3f} ({level:.0%} CI {overall['auc_low']:.3f} to "
        f"{overall['auc_high']:.3f}, {method})."
    )
    if "sensitivity" in table and np.isfinite(threshold):
        rule = provenance.get("threshold_rule", "given")
        sentence += (
            f" At the operating point ({_RULES.get(str(rule), rule)}, score >= {threshold:.4g}): "
            f"sensitivity {overall['sensitivity']:.2f}, specificity {overall['specificity']:.2f}."
        )
    headline.append(sentence)

    names = display_names(table)
    verdict = verdicts(table, alpha)
    rows = [table.iloc[i] for i in range(len(table))]
    by_verdict: dict[str, list[int]] = {}
    for i in range(1, len(table)):
        by_verdict.setdefault(verdict[i], []).append(i)

    def listing(kind: str, with_auc: bool = True) -> str:
        return "; ".join(
            f"{names[i]}: AUC {rows[i]['auc']:.3f}" if with_auc else names[i]
            for i in by_verdict.get(kind, [])
        )

    worse = sorted(
        by_verdict.get("worse", []),
        key=lambda i: (is_cluster(rows[i]), float(rows[i]["auc_diff"])),
    )
    rule_text = f"{p_name} < {alpha:.2g}"
    if worse:
        count = f"{len(worse)} strat{'um is' if len(worse) == 1 else 'a are'}"
        lead = f"Findings: {count} significantly worse than the reference ({rule_text}):"
    else:
        lead = f"No stratum is significantly worse than its reference ({rule_text})."
    items = [
        Finding(
            str(rows[i]["stratum"]),
            _titled(names[i], rows[i]),
            _sentence(rows[i], overall, level, p_name),
        )
        for i in worse
    ]
    notes = []
    if "better" in by_verdict:
        notes.append(f"Significantly better than the reference: {listing('better')}.")
    by_verdict["small"] = [
        i for i in by_verdict.get("too few cases to test", []) if rows[i]["p_adjusted"] < alpha
    ]
    if by_verdict["small"]:
        notes.append(
            "Significant but with too few positives or negatives for a reliable interval "
            f"or test (review before trusting): {listing('small')}."
        )
    if "undefined" in by_verdict:
        notes.append(f"Undefined (one class only): {listing('undefined', with_auc=False)}.")
    defined = [i for i in range(1, len(table)) if verdict[i] != "undefined"]
    by_verdict["lowest"] = sorted(defined, key=lambda i: float(rows[i]["auc"]))[:5]
    if by_verdict["lowest"]:
        notes.append(f"Worst strata by AUC: {listing('lowest')}.")
    if clusters is not None and len(clusters):
        notes.append(
            f"{len(clusters)} clusters from detectors, measured on held-out cases; "
            "details in report.clusters."
        )
    return Findings(headline, lead, items, notes)
