"""AuditReport: the tidy table of an audit, its figures, and its exports."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_write_text
from .._predictions import Predictions
from .._stratum import Stratum
from .._validation import check_int
from ._serialize import (
    frame_from_json,
    frame_to_json,
    stratum_from_json,
    stratum_to_json,
    to_python,
)

__all__ = ["AuditReport"]

FORMAT_VERSION = 1
_SUMMARY_COLUMNS = [
    "stratum",
    "population",
    "n_pos",
    "n_neg",
    "auc",
    "auc_low",
    "auc_high",
    "auc_diff",
    "p_adjusted",
    "sensitivity",
]


class AuditReport:
    """The result of :func:`hstrat.evaluate` or :func:`hstrat.audit`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per stratum, ``overall`` first (columns documented in
        :func:`hstrat.evaluate`).
    clusters : pandas.DataFrame or None
        The detectors' cluster tables, worst first, with a ``detector`` column.
    predictions : Predictions or None
        Labels, scores, ids (and embeddings, metadata) the audit was computed on.
    strata : list of Stratum
        The strata of the table's rows after ``overall``, in order.
    provenance : dict
        Versions, options, random state, a digest of the labels and scores, and time.
    threshold : float
        The operating point (``score >= threshold`` is called positive).

    Examples
    --------
    >>> import numpy as np
    >>> import hstrat
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(300) < 0.3
    >>> s = rng.normal(size=300) + 1.5 * y
    >>> report = hstrat.evaluate(y, s, {"first half": np.arange(300) < 150},
    ...                          ci="delong", progress=False)
    >>> report.table["stratum"].tolist()
    ['overall', 'first half']
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        clusters: pd.DataFrame | None = None,
        predictions: Predictions | None = None,
        strata: Sequence[Stratum] = (),
        provenance: dict[str, Any] | None = None,
        threshold: float = float("nan"),
    ) -> None:
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"table must be a pandas DataFrame; got {type(table).__name__}.")
        self.table = table
        self.clusters = clusters
        self.predictions = predictions
        self.strata = list(strata)
        self.provenance = dict(provenance or {})
        self.threshold = float(threshold)

    # -- reading ---------------------------------------------------------------------
    def worst(self, k: int = 5) -> pd.DataFrame:
        """Return the ``k`` defined strata with the lowest AUC (``overall`` excluded).

        Examples
        --------
        >>> import numpy as np
        >>> import hstrat
        >>> y = np.r_[np.ones(50, bool), np.zeros(50, bool)]
        >>> s = np.r_[np.linspace(0, 2, 50), np.linspace(-1, 1, 50)]
        >>> r = hstrat.evaluate(y, s, {"low": np.r_[np.arange(50) < 25, np.zeros(50, bool)]},
        ...                     ci="delong", progress=False)
        >>> r.worst(1)["stratum"].tolist()
        ['low']
        """
        k = check_int(k, "k", minimum=1)
        rows = self.table.iloc[1:]
        rows = rows[rows["defined"].astype(bool)]
        return rows.sort_values("auc", kind="stable").head(k)

    def summary(self) -> str:
        """Return a plain-text summary naming the overall result and the worst strata."""
        t = self.table
        overall = t.iloc[0]
        level = self.provenance.get("confidence_level", 0.95)
        target = self.provenance.get("target")
        head = (
            f"hstrat audit of {int(overall['n']):,} cases ({int(overall['n_pos']):,} positive)"
            + (f", target {target}" if target not in (None, "") else "")
        )
        lines = [
            head,
            f"Overall AUC {overall['auc']:.3f} ({level:.0%} CI {overall['auc_low']:.3f}-"
            f"{overall['auc_high']:.3f}, {overall['ci_method']})",
        ]
        if "sensitivity" in t and np.isfinite(self.threshold):
            lines.append(
                f"Operating point ({self.provenance.get('threshold_rule', 'given')}): score >= "
                f"{self.threshold:.4g}: sensitivity {overall['sensitivity']:.3f}, "
                f"specificity {overall['specificity']:.3f}"
            )
        worst = self.worst(5)
        if len(worst):
            ref = worst["reference"].iloc[0]
            lines += ["", f"Worst strata (lowest AUC; difference and adjusted p vs {ref}):"]
            shown = worst[[c for c in _SUMMARY_COLUMNS if c in worst.columns]].copy()
            lines.append(_format_table(shown))
            reliable = ~worst["note"].str.contains("unreliable", regex=False)
            flagged = worst[(worst["p_adjusted"] < 0.05) & (worst["auc_diff"] < 0) & reliable]
            if len(flagged):
                names = ", ".join(repr(str(s)) for s in flagged["stratum"])
                lines += ["", f"Significantly worse than the {ref} (adjusted p < 0.05): {names}"]
            if not reliable.all():
                names = ", ".join(repr(str(s)) for s in worst.loc[~reliable, "stratum"])
                lines.append(f"Too small for a reliable interval or test: {names}")
        undefined = t.loc[~t["defined"].astype(bool), "stratum"].tolist()
        if undefined:
            lines.append(f"Undefined (one class only): {', '.join(map(str, undefined))}")
        if self.clusters is not None and len(self.clusters):
            lines.append(
                f"{len(self.clusters)} clusters from detectors; worst first in report.clusters"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        o = self.table.iloc[0]
        return (
            f"AuditReport(n={int(o['n'])}, auc={o['auc']:.3f}, strata={len(self.table) - 1}, "
            f"clusters={0 if self.clusters is None else len(self.clusters)})"
        )

    # -- figures ----------------------------------------------------------------------
    def plot_forest(self, **kwargs: Any) -> Any:
        """Forest plot of the table (see :func:`hstrat.plot.plot_forest`)."""
        from ..plot import plot_forest

        return plot_forest(self.table, **kwargs)

    def plot_roc(self, strata: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """ROC curves of the named strata (default: the first eight), operating point marked.

        See :func:`hstrat.plot.plot_roc`.
        """
        from ..plot import plot_roc

        if self.predictions is None:
            raise ValueError(
                "This report has no predictions (saved without them); cannot draw ROC curves."
            )
        chosen = self.strata
        if strata is not None:
            by_name = {s.name: s for s in self.strata}
            unknown = [n for n in strata if n not in by_name]
            if unknown:
                raise ValueError(
                    f"strata {unknown!r} are not in this report; it has {list(by_name)!r}."
                )
            chosen = [by_name[n] for n in strata]
        threshold = self.threshold if np.isfinite(self.threshold) else None
        return plot_roc(
            self.predictions.y_true,
            self.predictions.y_score,
            chosen,
            threshold=threshold,
            **kwargs,
        )

    # -- exports ------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the table as CSV text, also written atomically to ``path`` when given."""
        text = self.table.to_csv(index=False)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_json(
        self, path: str | os.PathLike[str] | None = None, *, include_predictions: bool = True
    ) -> str:
        """Lossless JSON of the report; :meth:`from_json` rebuilds an equal table.

        With ``include_predictions`` the labels, scores, ids and stratum masks are saved
        too (so ROC curves can be redrawn); embeddings and metadata never are.
        """
        payload: dict[str, Any] = {
            "format": "hstrat-audit-report",
            "format_version": FORMAT_VERSION,
            "table": frame_to_json(self.table),
            "clusters": None if self.clusters is None else frame_to_json(self.clusters),
            "provenance": self.provenance,
            "threshold": to_python(self.threshold),
        }
        if include_predictions and self.predictions is not None:
            p = self.predictions
            payload["predictions"] = {
                "y_true": p.y_true.astype(int).tolist(),
                "y_score": p.y_score.tolist(),
                "ids": [to_python(i) for i in p.ids],
                "ids_name": p.ids.name,
                "target": to_python(p.target),
            }
            payload["strata"] = [stratum_to_json(s) for s in self.strata]
        text = json.dumps(payload, indent=1, default=to_python, allow_nan=False)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> AuditReport:
        """Rebuild a report from :meth:`to_json` output (a path or the JSON text)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        payload = json.loads(text)
        if payload.get("format") != "hstrat-audit-report":
            raise ValueError("source is not an hstrat audit report (missing format marker).")
        if payload.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"This report was written by a newer hstrat (format {payload['format_version']}); "
                "upgrade hstrat to read it."
            )
        predictions, strata = None, []
        if payload.get("predictions"):
            p = payload["predictions"]
            ids = pd.Index(p["ids"], name=p.get("ids_name"))
            predictions = Predictions(p["y_true"], p["y_score"], ids=ids, target=p.get("target"))
            strata = [stratum_from_json(s, len(ids)) for s in payload.get("strata", [])]
        threshold = payload.get("threshold")
        return cls(
            frame_from_json(payload["table"]),
            clusters=None
            if payload.get("clusters") is None
            else frame_from_json(payload["clusters"]),
            predictions=predictions,
            strata=strata,
            provenance=payload.get("provenance", {}),
            threshold=float("nan") if threshold is None else float(threshold),
        )

    def to_markdown(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the summary and the main columns of the table as Markdown."""
        columns = [
            c
            for c in [
                "stratum",
                "population",
                "n_pos",
                "n_neg",
                "auc",
                "auc_low",
                "auc_high",
                "auc_diff",
                "p_value",
                "p_adjusted",
                "sensitivity",
                "specificity",
                "note",
            ]
            if c in self.table.columns
        ]
        lines = [
            "# hstrat audit",
            "",
            "```",
            self.summary(),
            "```",
            "",
            _markdown_table(self.table[columns]),
        ]
        if self.clusters is not None and len(self.clusters):
            lines += ["", "## Clusters", "", _markdown_table(self.clusters)]
        text = "\n".join(lines) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page: summary, figures (embedded), tables, provenance.

        Every string that came from the user (stratum names, labels, ids) is escaped.
        """
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>hstrat audit report</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>Hidden stratification audit</h1>",
            f'<pre class="summary">{html.escape(self.summary())}</pre>',
            "<h2>AUC by stratum</h2>",
            _figure_html(self.plot_forest(), "Forest plot of AUC by stratum"),
        ]
        if self.predictions is not None:
            parts += [
                "<h2>ROC curves</h2>",
                _figure_html(self.plot_roc(), "ROC curves by stratum"),
            ]
        parts += ["<h2>Table</h2>", _frame_html(self.table)]
        if self.clusters is not None and len(self.clusters):
            parts += ["<h2>Clusters found by detectors</h2>", _frame_html(self.clusters)]
        parts += ["<h2>Provenance</h2>", _provenance_html(self.provenance), "</body></html>"]
        text = "\n".join(parts)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def save(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.html``, ``table.csv``, ``report.json`` and the figures as PNG files."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "html": out / "report.html",
            "csv": out / "table.csv",
            "json": out / "report.json",
            "forest": out / "forest.png",
        }
        self.to_html(paths["html"])
        self.to_csv(paths["csv"])
        self.to_json(paths["json"])
        _save_figure(self.plot_forest(), paths["forest"])
        if self.predictions is not None:
            paths["roc"] = out / "roc.png"
            _save_figure(self.plot_roc(), paths["roc"])
        return paths


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem}
pre.summary{background:#f6f8fa;padding:1rem;border-radius:6px;overflow-x:auto}
table{border-collapse:collapse;font-size:.8rem;margin-bottom:1rem;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f0f0f0}
img{max-width:100%}
"""


def _format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        if not np.isfinite(number):
            return ""
        return f"{number:.2g}" if 0 < abs(number) < 1e-3 else f"{number:.3f}"
    return str(value)


def _format_table(frame: pd.DataFrame) -> str:
    cells = [[str(c) for c in frame.columns]] + [
        [_format_value(v) for v in row] for row in frame.itertuples(index=False, name=None)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(frame.columns))]
    return "\n".join(
        "  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells
    )


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return _format_value(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = [
        "| " + " | ".join(cell(v) for v in row) + " |"
        for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *rows])


def _frame_html(frame: pd.DataFrame) -> str:
    return str(
        frame.to_html(
            index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.4g}", border=0
        )
    )


def _figure_html(fig: Any, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _save_figure(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    _close(fig)
    from .._io import atomic_write_bytes

    atomic_write_bytes(path, buffer.getvalue())


def _close(fig: Any) -> None:
    from ..plot._matplotlib import pyplot

    pyplot().close(fig)


def _provenance_html(provenance: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td style='text-align:left'>"
        f"{html.escape(json.dumps(v, default=str) if not isinstance(v, str) else v)}</td></tr>"
        for k, v in provenance.items()
    )
    return f"<table>{rows}</table>"
