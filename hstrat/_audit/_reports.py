"""Audits of several findings of one model: a report per finding, and a summary.

A chest X-ray model predicts many findings, and each may hide its own failing subclass:
:func:`hstrat.audit` with ``targets=`` scores every finding in one pass, and
:func:`hstrat.evaluate` takes a label and a score column per finding.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._html import _e, _num, _table, page
from ._report import AuditReport, write_report_folder

__all__ = ["AuditReports"]


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
            overall, strata = report.table.iloc[0], report.table.iloc[1:]
            defined = strata[strata["defined"].astype(bool) & strata["auc"].notna()]
            worst: Any = defined.iloc[int(np.argmin(defined["auc"]))] if len(defined) else {}
            auc = ("auc", "auc_low", "auc_high")
            rows.append(
                {
                    "finding": finding,
                    "n": int(overall["n"]),
                    "n_pos": int(overall["n_pos"]),
                    **{c: overall[c] for c in auc},
                    "n_strata": len(strata),
                    "n_significant": int((strata["p_adjusted"] < 0.05).sum()),
                    "worst_stratum": worst.get("stratum"),
                    **{f"worst_{c}": worst.get(c, np.nan) for c in (*auc, "p_adjusted")},
                }
            )
        return pd.DataFrame(rows)

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
        folders, summary = self.folders(), self.summary
        rows = []
        for finding, row in zip(self.reports, summary.itertuples(index=False), strict=True):
            cells = [_e(_num(v) if isinstance(v, float) else "" if v is None else v) for v in row]
            cells[0] = f'<a href="{_e(folders[finding])}/report.html">{cells[0]}</a>'
            rows.append(("", cells))
        title = f"Audit of {len(self)} findings"
        return page(
            title,
            f"<h1>{title}</h1><p>Each finding's report opens from its name. The worst stratum "
            "is the one with the lowest AUC; its p-value is adjusted within that finding's "
            "audit.</p>" + _table([_e(c) for c in summary.columns], rows, {0, 8}),
        )

    def save(
        self,
        directory: str | os.PathLike[str],
        *,
        images: Any = None,
        overwrite: bool = False,
    ) -> dict[str, Path]:
        """Write ``index.html`` and a report folder per finding, as one folder, atomically.

        As :meth:`AuditReport.save` (same ``overwrite`` rule); ``images`` (one per case)
        go to every finding's cluster exemplars.

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
