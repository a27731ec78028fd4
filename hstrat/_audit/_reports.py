"""Audits of several findings of one model: a report per finding, and a summary.

Chest X-ray models rarely predict one finding: ChestX-ray14's models output 14, and each
may hide its own failing subclass. :func:`hstrat.audit` with ``targets=`` scores every
finding in one pass over the images and :func:`hstrat.evaluate` takes a label and a
score column per finding; both return an :class:`AuditReports`, whose reports are each
what a single-finding audit of that output gives, and whose summary says in one table
which finding hides a failing stratum.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._report import AuditReport, write_report_folder

__all__ = ["SUMMARY_COLUMNS", "AuditReports"]

#: Columns of :attr:`AuditReports.summary`.
SUMMARY_COLUMNS = [
    "finding",
    "n",
    "n_pos",
    "auc",
    "auc_low",
    "auc_high",
    "n_strata",
    "n_significant",
    "worst_stratum",
    "worst_auc",
    "worst_auc_low",
    "worst_auc_high",
    "worst_p_adjusted",
]


class AuditReports(Mapping[Any, AuditReport]):
    """The audits of several findings, by finding; a read-only mapping to AuditReport.

    Parameters
    ----------
    reports : mapping of finding to AuditReport
        In the order the findings are listed.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import hstrat
    >>> rng = np.random.default_rng(0)
    >>> y = pd.DataFrame({"effusion": rng.random(400) < 0.4, "nodule": rng.random(400) < 0.3})
    >>> s = y + rng.normal(size=(400, 2))
    >>> reports = hstrat.evaluate(y, s, ci="delong", progress=False)
    >>> list(reports)
    ['effusion', 'nodule']
    >>> reports.summary[["finding", "n_pos", "auc"]].round(3)
        finding  n_pos    auc
    0  effusion    143  0.780
    1    nodule    121  0.773
    """

    def __init__(self, reports: Mapping[Any, AuditReport]) -> None:
        if not reports or not all(isinstance(r, AuditReport) for r in reports.values()):
            raise TypeError("reports must be a non-empty mapping of finding to AuditReport.")
        self.reports: dict[Any, AuditReport] = dict(reports)

    def __getitem__(self, finding: Any) -> AuditReport:
        return self.reports[finding]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.reports)

    def __len__(self) -> int:
        return len(self.reports)

    def __repr__(self) -> str:
        return f"AuditReports({', '.join(map(repr, self.reports))})"

    def __str__(self) -> str:
        shown = self.summary.copy()
        for column in ("auc", "auc_low", "auc_high", "worst_auc"):
            shown[column] = shown[column].map("{:.3f}".format)
        shown["worst_p_adjusted"] = shown["worst_p_adjusted"].map("{:.2g}".format)
        columns = ["finding", "n_pos", "auc", "auc_low", "auc_high", "worst_stratum"]
        columns += ["worst_auc", "worst_p_adjusted"]
        return f"Audit of {len(self)} findings\n\n{shown[columns].to_string(index=False)}"

    @property
    def summary(self) -> pd.DataFrame:
        """One row per finding: its overall AUC and its worst stratum.

        Columns ``finding, n, n_pos, auc, auc_low, auc_high, n_strata, n_significant,
        worst_stratum, worst_auc, worst_auc_low, worst_auc_high, worst_p_adjusted``. The
        worst stratum is the one with the lowest AUC among the defined strata (clusters
        included); ``n_significant`` counts strata whose adjusted p is below 0.05.
        """
        rows = []
        for finding, report in self.reports.items():
            table = report.table
            overall = table.iloc[0]
            strata = table.iloc[1:]
            defined = strata[strata["defined"].astype(bool) & strata["auc"].notna()]
            worst = defined.iloc[int(np.argmin(defined["auc"]))] if len(defined) else None
            rows.append(
                {
                    "finding": finding,
                    "n": int(overall["n"]),
                    "n_pos": int(overall["n_pos"]),
                    "auc": overall["auc"],
                    "auc_low": overall["auc_low"],
                    "auc_high": overall["auc_high"],
                    "n_strata": len(strata),
                    "n_significant": int((strata["p_adjusted"] < 0.05).sum()),
                    "worst_stratum": None if worst is None else worst["stratum"],
                    "worst_auc": np.nan if worst is None else worst["auc"],
                    "worst_auc_low": np.nan if worst is None else worst["auc_low"],
                    "worst_auc_high": np.nan if worst is None else worst["auc_high"],
                    "worst_p_adjusted": np.nan if worst is None else worst["p_adjusted"],
                }
            )
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def folders(self) -> dict[Any, str]:
        """Return the folder name of each finding's report in :meth:`save` (unique, safe)."""
        names: dict[Any, str] = {}
        for finding in self.reports:
            base = re.sub(r"[^a-z0-9]+", "-", str(finding).lower()).strip("-") or "finding"
            name, k = base, 2
            while name in names.values() or name == "index":
                name, k = f"{base}-{k}", k + 1
            names[finding] = name
        return names

    def index_html(self) -> str:
        """Return the index page: the summary, each finding linked to its report."""
        folders = self.folders()
        summary = self.summary
        head = "".join(f"<th>{html.escape(c)}</th>" for c in summary.columns)
        body = []
        for finding, row in zip(self.reports, summary.itertuples(index=False), strict=True):
            cells = []
            for column, value in zip(summary.columns, row, strict=True):
                text = html.escape(_cell(value))
                if column == "finding":
                    href = html.escape(f"{folders[finding]}/report.html", quote=True)
                    text = f'<a href="{href}">{text}</a>'
                cells.append(f"<td>{text}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        return (
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>Audit of {len(self)} findings</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}"
            "table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid"
            " #ddd;text-align:left}th{background:#f4f4f4}</style></head><body>"
            f"<h1>Audit of {len(self)} findings</h1>"
            "<p>Each finding's report opens from its name. The worst stratum is the one with "
            "the lowest AUC; its p-value is adjusted within that finding's audit.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "</body></html>"
        )

    def save(
        self,
        directory: str | os.PathLike[str],
        *,
        images: Any = None,
        overwrite: bool = False,
    ) -> dict[str, Path]:
        """Write ``index.html`` and a report folder per finding, as one folder, atomically.

        The same rules as :meth:`AuditReport.save`: built beside ``directory`` and swapped
        into place (a kill leaves the old folder or the new one); a folder that holds a
        different report or other files needs ``overwrite=True``. ``images`` (one per
        case) go to every finding's cluster exemplars.

        Returns
        -------
        dict of str to pathlib.Path
            ``index`` and each finding's folder, by finding name.
        """
        files: dict[str, bytes] = {}
        identities = []
        folders = self.folders()
        for finding, report in self.reports.items():
            identity, own = report.files(images)
            identities.append(identity)
            files.update({f"{folders[finding]}/{name}": data for name, data in own.items()})
        files["index.html"] = self.index_html().encode("utf-8")
        identity = hashlib.sha256("".join(identities).encode("ascii")).hexdigest()
        out = write_report_folder(directory, identity, files, overwrite)
        written = {str(f): out / folder for f, folder in folders.items()}
        return {**written, "index": out / "index.html"}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3g}" if abs(value) < 1e-3 else f"{value:.3f}"
    return "" if value is None else str(value)
