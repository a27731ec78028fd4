"""``report.html``: the findings first, then the figures, then the details.

Laid out after the reports people act on (model cards, Fairness Indicators, test reports
that list the failures first, Domino's slices through their examples); the full table is
embedded as a CSV download. Self-contained; every user string escaped.
"""

from __future__ import annotations

import base64
import html
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..metrics._stratified import verdicts
from ._findings import display_names, is_cluster

if TYPE_CHECKING:
    from ._report import AuditReport, Figure

_CSS = """
:root{--worse:#c62828;--better:#2e7d32;--muted:#5f6368}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f1f1f;margin:0}
main{max-width:1080px;margin:0 auto;padding:1.2rem 1.25rem 3rem}
h1{font-size:1.55rem;margin:.3rem 0}h2{font-size:1.2rem;margin:1.8rem 0 .5rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}.meta,figcaption,.muted{color:var(--muted)}
.meta{margin:0 0 1rem}figcaption{font-size:.88rem;margin:.2rem 0 .8rem}
#findings{border-left:5px solid var(--worse);background:#fdf3f3;padding:.6rem 1.2rem;
border-radius:4px}#findings.none{border-color:var(--better);background:#f3f9f3}
#findings h2{margin-top:.4rem}#findings li{margin:.45rem 0}.lead{font-weight:600}
img{max-width:100%;height:auto}.exemplar img{display:block;margin:.3rem 0 0}
aside{background:#f3f5f9;border-radius:6px;padding:.2rem 1.2rem .6rem;font-size:.92rem}
aside dt{font-weight:600;margin-top:.5rem}aside dd{margin:0}
table{border-collapse:collapse;width:100%;font-size:.86rem;margin:.3rem 0 1rem}
th,td{padding:.28rem .5rem;border-bottom:1px solid #e2e2e2;text-align:right;
vertical-align:top;white-space:nowrap}th{background:#f2f2f2;font-weight:600}
th.text,td.text{text-align:left;white-space:normal;overflow-wrap:anywhere}
.ci{color:var(--muted)}
tr.worse td:first-child{color:var(--worse);font-weight:600}
tr.better td:first-child{color:var(--better)}
a.download{display:inline-block;margin:.2rem 0 .6rem;font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def page(title: str, body: str) -> str:
    """Return a self-contained HTML page (``title`` and ``body`` already escaped)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style></head><body><main>\n{body}"
        "\n</main></body></html>"
    )


def _num(value: Any, digits: int = 3) -> str:
    """Format a number for people: ``digits`` decimals, tiny ones in two significant digits."""
    number = float(value)
    if not np.isfinite(number):
        return ""
    return f"{number:.2g}" if 0 < abs(number) < 10**-digits else f"{number:.{digits}f}"


def _with_ci(row: Any, column: str, digits: int = 3, bounds: tuple[str, str] | None = None) -> str:
    """Return a value with its interval (columns ``<column>_low`` and ``_high``) in grey."""
    low, high = bounds or (f"{column}_low", f"{column}_high")
    value = _num(row.get(column, np.nan), digits)
    if not value or low not in row or not np.isfinite(float(row[low])):
        return value
    interval = f"{_num(row[low], digits)} to {_num(row[high], digits)}"
    return f'{value} <span class="ci">({interval})</span>'


def _table(header: list[str], rows: list[tuple[str, list[str]]], text_columns: set[int]) -> str:
    """Return an HTML table of escaped cells; ``rows`` are (css class, cells)."""

    def cls(i: int) -> str:
        return ' class="text"' if i in text_columns else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        f'<tr class="{c}">'
        + "".join(f"<td{cls(i)}>{v}</td>" for i, v in enumerate(cells))
        + "</tr>"
        for c, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_RATES = ("sensitivity", "specificity", "ppv", "npv")
_TESTS = ("p_value", "p_adjusted", "sensitivity_p_value", "specificity_p_value")


def _detail_tables(table: pd.DataFrame, names: list[str], verdict: list[str]) -> str:
    """Return the table in three groups that each fit the page."""
    groups: dict[str, tuple[list[str], Any]] = {
        "Discrimination": (
            [
                "Population",
                "Positives",
                "Negatives",
                "AUC (CI)",
                "Reference AUC",
                "Difference (CI)",
            ],
            lambda r: [
                _e(r["population"]),
                f"{int(r['n_pos']):,}",
                f"{int(r['n_neg']):,}",
                _with_ci(r, "auc"),
                _num(r["reference_auc"]),
                _with_ci(r, "auc_diff", bounds=("diff_low", "diff_high")),
            ],
        ),
        "At the operating point": (
            ["Sensitivity (CI)", "Specificity (CI)", "PPV (CI)", "NPV (CI)"],
            lambda r: [_with_ci(r, c, 2) for c in _RATES],
        ),
        "Tests against the reference": (
            ["p (AUC)", "Adjusted p", "p (sensitivity)", "p (specificity)", "Note"],
            lambda r: [*(_num(r.get(c, np.nan)) for c in _TESTS), _e(r.get("note", ""))],
        ),
    }
    parts = []
    for title, (header, cells) in groups.items():
        rows = [
            (verdict[i], [_e(names[i]), *cells(r)]) for i, (_, r) in enumerate(table.iterrows())
        ]
        text = {0, 1} if title == "Discrimination" else {0, len(header)}
        parts.append(f"<h3>{title}</h3>" + _table(["Stratum", *header], rows, text))
    return "".join(parts)


_CLUSTER_COLUMNS = {
    "class": "Class",
    "n": "Held-out cases",
    "n_discovery": "Discovery cases",
    "discovery_auc": "AUC on discovery cases",
    "error_rate": "Error rate",
    "stability": "Stability",
    "note": "Note",
}


def _cluster_table(clusters: pd.DataFrame, names: dict[str, str]) -> str:
    columns = [c for c in _CLUSTER_COLUMNS if c in clusters.columns]
    rows = []
    for _, row in clusters.iterrows():
        stratum = f"{row.get('detector', '')}:{row.get('name', '')}"
        label = names.get(stratum, f"{row.get('name', '')} (not tested)")
        cells = [
            _num(row[c], 2) if isinstance(row[c], float | np.floating) else _e(row[c])
            for c in columns
        ]
        rows.append(("", [_e(label), *cells]))
    header = ["Cluster", *(_CLUSTER_COLUMNS[c] for c in columns)]
    text = {0} | {i + 1 for i, c in enumerate(columns) if c == "note"}
    return _table(header, rows, text)


def _how_to_read(report: AuditReport) -> str:
    p = report.provenance
    level = float(p.get("confidence_level", 0.95))
    ci = str(p.get("ci", "bootstrap"))
    groups = p.get("groups")
    how = (
        f"bootstrap ({p.get('method', 'percentile')}, {p.get('n_resamples', '?')} resamples"
        + (", the cases of one group resampled together" if groups else "")
        + (f" (groups: {groups})" if groups not in (None, "array") else "")
        + ")"
        if ci == "bootstrap"
        else "DeLong's method"
    )
    correction = {"holm": "Holm's method", "fdr_bh": "the Benjamini-Hochberg procedure"}.get(
        str(p.get("correction")), "no method (not adjusted)"
    )
    reference = (
        "the AUC over all cases"
        if p.get("reference") == "overall"
        else "its complement: the other cases of its population"
    )
    entries = {
        "Populations": (
            "A stratum of <b>positives</b> (e.g. pneumothorax without a drain) is measured as "
            "its positives against <em>all</em> negatives; a stratum of <b>negatives</b> as "
            "all positives against its negatives; a stratum of <b>all</b> cases as its own "
            "positives against its own negatives."
        ),
        "Intervals": (
            f"Each AUC has a {level:.0%} confidence interval, by {_e(how)}: "
            "the range of AUCs compatible with the data."
        ),
        "Reference and adjustment": (
            f"Each stratum is compared with {reference}. Its p-value is adjusted for the "
            f"number of strata tested by {correction}, separately for the given strata and "
            "for each detector's clusters. A <b>finding</b> is a stratum whose adjusted p is "
            f"below {1 - level:.2g} and whose AUC is below its reference's; strata with too "
            "few positives or negatives for a reliable interval are listed apart."
        ),
        "Operating point": (
            "Sensitivity and specificity are read at one threshold chosen on all cases "
            f"(score &ge; {_num(report.threshold, 4)}), where clinicians meet the model."
        ),
        "Clusters": any(is_cluster(r) for _, r in report.table.iterrows())
        and (
            "A detector clusters the model's embeddings of each class on part of the cases "
            "and measures each cluster on the held-out rest, so its interval is honest; its "
            "counts are held-out cases. A cluster is a candidate subclass: look at its "
            "cases to name it."
        ),
    }
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in entries.items() if v)
    return f'<aside id="how-to-read"><h2>How to read this report</h2><dl>{items}</dl></aside>'


def _provenance(provenance: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        if value is None:
            return "not recorded"
        if isinstance(value, str):
            return value
        return json.dumps(value, default=str)

    rows = [("", [_e(k), _e(show(v))]) for k, v in provenance.items()]
    return _table(["Item", "Value"], rows, {0, 1})


def render_page(report: AuditReport, figures: dict[str, Figure], csv_text: str) -> str:
    """Return the HTML page of ``report`` with its rendered ``figures`` and table as CSV."""
    table = report.table
    found = report.findings()
    names = display_names(table)
    verdict = verdicts(table, 1.0 - float(report.provenance.get("confidence_level", 0.95)))
    named = dict(zip(table["stratum"].astype(str), names, strict=True))
    by_kind: dict[str, dict[str, Figure]] = {}
    for figure in figures.values():
        by_kind.setdefault(figure.kind, {})[figure.about] = figure
    exemplars = by_kind.get("exemplars", {})
    caption = (
        "Typical cases of the cluster (nearest its centre, top row), then further cases the "
        "model gets wrong (bottom row); errors at the operating point are framed in red."
    )

    def exemplar(stratum: str) -> str:
        figure = exemplars.pop(stratum, None)
        if figure is None:
            return ""
        return (
            f'<figure class="exemplar">{_img(figure.png, f"Cases of {named[stratum]}")}'
            f"<figcaption>{caption}</figcaption></figure>"
        )

    items = "".join(
        f"<li><strong>{_e(item.title)}</strong>: {_e(item.text)}{exemplar(item.stratum)}</li>"
        for item in found.items
    )
    notes = "".join(f"<p>{_e(note)}</p>" for note in found.notes)
    parts = [
        "<h1>Hidden stratification audit</h1>",
        f'<p class="meta">{_e(found.headline[0])}</p>',
        f'<section id="findings" class="{"some" if found.items else "none"}">',
        "<h2>Findings</h2>",
        f"<p>{_e(found.headline[1])}</p>",
        f'<p class="lead">{_e(found.lead)}</p>',
        f"<ol>{items}</ol>" if items else "",
        notes,
        "</section>",
        _how_to_read(report),
        '<section id="forest"><h2>AUC by stratum</h2>',
        _img(figures["forest.png"].png, "Forest plot of the AUC of each stratum"),
        "<figcaption>Each stratum's AUC with its confidence interval; the dashed line is "
        "the AUC over all cases. Colours as in the legend.</figcaption></section>",
    ]
    maps = by_kind.get("clusters", {})
    if maps or exemplars:
        parts.append('<section id="clusters"><h2>Clusters in the model\'s embeddings</h2>')
        for family, figure in maps.items():
            parts.append(_img(figure.png, f"Map of the clusters of {family}"))
        if maps:
            parts.append(
                "<figcaption>Each class's held-out cases in the first two principal "
                "components of its embeddings; the clusters of the table in colour (n = "
                "held-out cases, as in the table); crosses: errors at the operating point."
                "</figcaption>"
            )
        for stratum in list(exemplars):
            parts.append(f"<h3>{_e(named[stratum])} (the detector's worst, not a finding)</h3>")
            parts.append(exemplar(stratum))
        parts.append("</section>")
    if "roc.png" in figures:
        parts += [
            '<section id="roc"><h2>ROC curves</h2>',
            _img(figures["roc.png"].png, "ROC curve of each stratum"),
            "<figcaption>One panel per stratum: its ROC curve, coloured as in the forest "
            "plot, against all cases in black; the dots mark the operating point."
            "</figcaption></section>",
        ]
    csv_data = base64.b64encode(csv_text.encode("utf-8")).decode("ascii")
    parts += [
        '<section id="details"><h2>Details</h2>',
        f'<a class="download" download="table.csv" '
        f'href="data:text/csv;charset=utf-8;base64,{csv_data}">'
        "Download the full table (CSV, every column)</a>",
        _detail_tables(table, names, verdict),
    ]
    if report.clusters is not None and len(report.clusters):
        parts += ["<h3>Clusters found by detectors</h3>", _cluster_table(report.clusters, named)]
    parts += [
        "</section>",
        '<section id="provenance"><h2>Provenance</h2>',
        _provenance(report.provenance),
        "</section>",
    ]
    return page("hstrat audit report", "\n".join(p for p in parts if p))
