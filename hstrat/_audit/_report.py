"""AuditReport: the tidy table of an audit, its figures, and its exports.

``save()`` writes one report folder (HTML, lossless JSON, spreadsheet-safe CSV, PNG
figures and ``manifest.json``), built beside the target and swapped into place in one
step by :mod:`hstrat._io`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._io import atomic_write_bytes, atomic_write_text, replace_folder, spreadsheet_csv
from .._predictions import Predictions
from .._stratum import Stratum
from .._validation import check_int
from ..metrics._stratified import verdicts
from ._findings import Findings, display_names, findings, is_cluster, method_name
from ._html import _num, render_page
from ._serialize import (
    decode,
    encode,
    frame_from_json,
    frame_to_json,
    stratum_from_json,
    stratum_to_json,
)

__all__ = ["AuditReport"]

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
_DPI = 120
_ROC_PANELS = 24
_EXEMPLARS = 8


class Figure(NamedTuple):
    """A rendered figure of a report: PNG bytes, its kind, and what it belongs to."""

    png: bytes
    kind: str  # forest, roc, clusters (of a detector) or exemplars (of a stratum)
    about: str = ""


class AuditReport:
    """The result of :func:`hstrat.evaluate` or :func:`hstrat.audit`.

    ``print(report)`` says what the audit found, in the same words as the findings at
    the top of ``report.html``.

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

    def findings(self) -> Findings:
        """Return what the audit found, in words (the source of ``summary()`` and the HTML)."""
        return findings(self.table, self.provenance, self.threshold, self.clusters)

    def summary(self) -> str:
        """Return the findings as plain text (what ``print(report)`` shows)."""
        return self.findings().text()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        o = self.table.iloc[0]
        return (
            f"AuditReport(n={int(o['n'])}, auc={o['auc']:.3f}, strata={len(self.table) - 1}, "
            f"clusters={0 if self.clusters is None else len(self.clusters)})"
        )

    @property
    def _alpha(self) -> float:
        return 1.0 - float(self.provenance.get("confidence_level", 0.95))

    # -- figures ----------------------------------------------------------------------
    def plot_forest(self, **kwargs: Any) -> Any:
        """Forest plot of the table, clusters by their readable names.

        Keyword arguments go to :func:`hstrat.plot.plot_forest`.
        """
        from ..plot import plot_forest

        named = self.table.assign(stratum=display_names(self.table))
        return plot_forest(named, **{"alpha": self._alpha, **kwargs})

    def plot_roc(self, strata: Sequence[str] | None = None) -> Any:
        """ROC curves: one panel per stratum against all cases, operating point marked.

        Coloured as in the forest plot; at most 24 panels, the title names those left out.

        Parameters
        ----------
        strata : sequence of str, optional
            Names of the strata to draw (default: all, in the table's order).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..plot import plot_roc
        from ..plot._matplotlib import VERDICT_COLOURS, literal, pyplot

        if self.predictions is None:
            raise ValueError(
                "This report has no predictions (saved without them); cannot draw ROC curves."
            )
        names = display_names(self.table)[1:]
        verdict = verdicts(self.table, self._alpha)[1:]
        by_name = {str(s.name): i for i, s in enumerate(self.strata)}
        chosen = list(by_name) if strata is None else list(strata)
        unknown = [n for n in chosen if n not in by_name]
        if unknown:
            raise ValueError(
                f"strata {unknown!r} are not in this report; it has {list(by_name)!r}."
            )
        drawn, left_out = chosen[:_ROC_PANELS], chosen[_ROC_PANELS:]
        columns = min(4, max(len(drawn), 1))
        rows = -(-max(len(drawn), 1) // columns)
        fig, axes = pyplot().subplots(
            rows,
            columns,
            figsize=(3.0 * columns, 3.0 * rows + 0.6),
            layout="constrained",
            squeeze=False,
            sharex=True,
            sharey=True,
        )
        threshold = self.threshold if np.isfinite(self.threshold) else None
        p = self.predictions
        for ax, name in zip(axes.flat, drawn, strict=False):
            i = by_name[name]
            plot_roc(
                p.y_true,
                p.y_score,
                [self.strata[i]],
                threshold=threshold,
                ax=ax,
                colors={name: VERDICT_COLOURS[verdict[i]]},
                title=names[i],
            )
            ax.get_legend().remove()
            ax.title.set_fontsize(9)
            ax.xaxis.label.set_visible(False)
            ax.yaxis.label.set_visible(False)
        for ax in list(axes.flat)[len(drawn) :]:
            ax.set_axis_off()
        title = "ROC of each stratum (coloured) against all cases (black); dots: operating point"
        if left_out:
            more = ", ".join(left_out[:8]) + (", ..." if len(left_out) > 8 else "")
            title += f"\n{len(left_out)} more not drawn: {more}"
        fig.suptitle(literal(title), fontsize=10)
        fig.supxlabel("1 - specificity", fontsize=9)
        fig.supylabel("sensitivity", fontsize=9)
        return fig

    def _cluster_maps(self) -> dict[str, Any]:
        """One cluster map per detector: its held-out cases in 2-D, clusters coloured."""
        from ..plot._clusters import draw_cluster_map

        p = self.predictions
        if p is None or p.embeddings is None:
            return {}
        by_name = {s.name: s for s in self.strata}
        names = dict(zip(self.table["stratum"], display_names(self.table), strict=True))
        rows = self.table[[is_cluster(r) for _, r in self.table.iterrows()]]
        errors = (p.y_score >= self.threshold) != p.y_true
        figures = {}
        for family, group in rows.groupby("family", sort=False):
            held_out = by_name[group["stratum"].iloc[0]].labelled
            populations = [
                q for q in ("negatives", "positives", "all") if q in set(group["population"])
            ]
            members = {"negatives": ~p.y_true, "positives": p.y_true}
            panels = [(q, members.get(q, np.ones_like(held_out)) & held_out) for q in populations]
            clusters = [
                (names[s], by_name[s].mask, float(a))
                for s, a in zip(group["stratum"], group["auc"], strict=True)
            ][:10]
            figures[str(family)] = draw_cluster_map(
                p.embeddings,
                panels,
                clusters,
                errors,
                title=f"Clusters found by {method_name(str(family))}",
            )
        return figures

    def _exemplar_figures(self, images: Any) -> dict[str, Any]:
        """Image strips of the clusters in the findings (or each detector's worst cluster)."""
        from ..plot import plot_image_grid

        p = self.predictions
        if images is None or p is None or p.embeddings is None:
            return {}
        table = self.table
        verdict = verdicts(table, self._alpha)
        clusters = [i for i, (_, row) in enumerate(table.iterrows()) if is_cluster(row)]
        chosen = [i for i in clusters if verdict[i] == "worse"]
        worst: dict[str, int] = {}  # each detector's lowest defined AUC
        for i in np.argsort(table["auc"].to_numpy(dtype=float), kind="stable"):
            if i in clusters and verdict[i] != "undefined":
                worst.setdefault(str(table["family"].iloc[i]), int(i))
        chosen += [i for i in worst.values() if i not in chosen]
        names = display_names(table)
        errors = (p.y_score >= self.threshold) != p.y_true
        return {
            str(table["stratum"].iloc[i]): plot_image_grid(
                images,
                _exemplar_rows(p.embeddings, self.strata[i - 1].mask, errors),
                marked=errors,
                image_size=0.9,
                title=f"{names[i]}: errors framed in red",
            )
            for i in chosen[:6]
        }

    # -- exports ------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the table as CSV text for spreadsheets (also written atomically to ``path``).

        Cells a spreadsheet would run as a formula get a leading ``'``; see "Reading a report".
        """
        return _written(spreadsheet_csv(self.table), path)

    def to_json(
        self, path: str | os.PathLike[str] | None = None, *, include_predictions: bool = True
    ) -> str:
        """Lossless JSON of the report; :meth:`from_json` rebuilds an equal table.

        With ``include_predictions`` the labels, scores, ids and stratum masks are saved
        too (ROC curves can be redrawn); embeddings and metadata never are.
        """
        payload: dict[str, Any] = {
            "format": "hstrat-audit-report",
            "format_version": FORMAT_VERSION,
            "table": frame_to_json(self.table),
            "clusters": None if self.clusters is None else frame_to_json(self.clusters),
            "provenance": encode(self.provenance),
            "threshold": encode(self.threshold),
        }
        if include_predictions and self.predictions is not None:
            p = self.predictions
            payload["predictions"] = {
                "y_true": p.y_true.astype(int).tolist(),
                "y_score": p.y_score.tolist(),
                "ids": [encode(i) for i in p.ids],
                "ids_name": encode(p.ids.name),
                "target": encode(p.target),
            }
            payload["strata"] = [stratum_to_json(s) for s in self.strata]
        return _written(json.dumps(payload, indent=1, allow_nan=False), path)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> AuditReport:
        """Rebuild a report from :meth:`to_json` output (a path or the JSON text).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import hstrat
        >>> rng = np.random.default_rng(0)
        >>> age = pd.Series(rng.integers(20, 90, 400))
        >>> y = rng.random(400) < 0.4
        >>> report = hstrat.evaluate(y, rng.normal(size=400) + y, pd.cut(age, [0, 40, 60, 100]),
        ...                          ci="delong", progress=False)
        >>> again = hstrat.AuditReport.from_json(report.to_json())
        >>> again.table["level"].iloc[1]
        Interval(0.0, 40.0, closed='right')
        """
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        payload = json.loads(text, object_hook=decode)
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
        """Return the findings and the main columns of the table as Markdown."""
        columns = [
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
            "specificity",
            "note",
        ]
        table = self.table.assign(stratum=display_names(self.table))
        table = table[[c for c in columns if c in table.columns]]

        def cell(value: Any) -> str:
            text = _num(value) if isinstance(value, float | np.floating) else str(value)
            return text.replace("|", "\\|").replace("\n", " ")

        rows: list[Any] = [table.columns, *table.itertuples(index=False, name=None)]
        lines = ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("---" for _ in table.columns) + "|")
        lines = ["# hstrat audit", "", "```", self.summary(), "```", "", *lines]
        return _written("\n".join(lines) + "\n", path)

    def _figures(self, images: Any) -> dict[str, Figure]:
        """Render every figure once, by file name."""
        n = 0 if self.predictions is None else len(self.predictions)
        if images is not None and len(images) != n:
            raise ValueError(
                f"images must hold one image per evaluated case ({n}); got {len(images)}."
            )
        figures = {"forest.png": Figure(_png(self.plot_forest()), "forest")}
        if self.predictions is not None and self.strata:
            figures["roc.png"] = Figure(_png(self.plot_roc()), "roc")
        maps = self._cluster_maps()
        for family, fig in maps.items():
            name = "clusters.png" if len(maps) == 1 else f"clusters_{_slug(family)}.png"
            figures[name] = Figure(_png(fig), "clusters", family)
        for stratum, fig in self._exemplar_figures(images).items():
            figures[f"exemplars_{_slug(stratum)}.png"] = Figure(_png(fig), "exemplars", stratum)
        return figures

    def to_html(self, path: str | os.PathLike[str] | None = None, *, images: Any = None) -> str:
        """One self-contained HTML page: findings, figures, tables, provenance (all escaped).

        Parameters
        ----------
        path : str or path-like, optional
            Also write the page there (atomically).
        images : array-like or sequence of images, optional
            One image per evaluated case, in the order of ``report.predictions``: the
            clusters in the findings are then shown with their typical cases and errors.
        """
        return _written(
            render_page(self, self._figures(images), spreadsheet_csv(self.table)), path
        )

    def save(
        self, directory: str | os.PathLike[str], *, images: Any = None, overwrite: bool = False
    ) -> dict[str, Path]:
        """Write the report folder in one atomic step; return the written files by kind.

        What the folder holds and how it is swapped into place: "Reading a report".

        Parameters
        ----------
        directory : str or path-like
            The report folder (created if missing).
        images : array-like or sequence of images, optional
            One image per evaluated case, for the clusters' exemplars (see :meth:`to_html`).
        overwrite : bool, default False
            Also write into a folder holding a different hstrat report (its files are
            removed) or other files (kept; the report's files then replaced one by one).

        Returns
        -------
        dict of str to pathlib.Path
            ``html``, ``json``, ``csv``, ``manifest`` and one entry per figure.
        """
        identity, files = self.files(images)
        folder = write_report_folder(
            directory, identity, files, overwrite, created=self.provenance.get("created")
        )
        kinds = {"report.html": "html", "report.json": "json", "table.csv": "csv"}
        return {
            kinds.get(n, n.removesuffix(".json").removesuffix(".png")): folder / n
            for n in [*files, MANIFEST]
        }

    def files(self, images: Any = None) -> tuple[str, dict[str, bytes]]:
        """Return the report's identity (a digest of its content) and its folder's files."""
        json_text = self.to_json()
        content = json.loads(json_text)
        content["provenance"].pop("created", None)  # the identity leaves the time out
        identity = hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8"))
        csv_text = spreadsheet_csv(self.table)
        figures = self._figures(images)
        return identity.hexdigest(), {
            "report.html": render_page(self, figures, csv_text).encode("utf-8"),
            "report.json": json_text.encode("utf-8"),
            "table.csv": csv_text.encode("utf-8"),
            **{name: figure.png for name, figure in figures.items()},
        }


def write_report_folder(
    directory: str | os.PathLike[str],
    identity: str,
    files: dict[str, bytes],
    overwrite: bool,
    *,
    created: Any = None,
) -> Path:
    """Write ``files`` (names may hold one folder level) and a manifest as one folder."""
    out = Path(directory)
    kept = _check_folder(out, identity, overwrite)
    manifest = {
        "format": "hstrat-report-folder",
        "report": identity,
        "created": created,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files = {**files, MANIFEST: json.dumps(manifest, indent=1).encode("utf-8")}
    if not kept:
        return replace_folder(out, files)
    for name, data in sorted(files.items(), key=lambda item: item[0] == MANIFEST):
        atomic_write_bytes(out / name, data)  # other files stay: one by one
    tops = {name.split("/")[0] for name in files}
    for entry in out.iterdir():
        if entry.name not in tops and entry.name not in kept and entry.is_file():
            entry.unlink()  # a file of the old report
    return out


def _written(text: str, path: str | os.PathLike[str] | None) -> str:
    """Return ``text``, written atomically to ``path`` first when one is given."""
    if path is not None:
        atomic_write_text(path, text)
    return text


def _check_folder(out: Path, identity: str, overwrite: bool) -> set[str]:
    """Refuse to replace what ``overwrite`` does not allow; return the entries to keep."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise NotADirectoryError(f"{out} is a file; a report is saved into a folder.")
    entries = sorted(p.name for p in out.iterdir())
    manifest: Any = {}
    if MANIFEST in entries:
        try:
            manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
    if not isinstance(manifest, dict) or manifest.get("format") != "hstrat-report-folder":
        manifest = {}  # not ours: a user's manifest.json is a file like any other
    ours = {f.split("/")[0] for f in manifest.get("files", {})} | {MANIFEST} if manifest else set()
    foreign = {e for e in entries if e not in ours}
    if not entries or (manifest.get("report") == identity and not foreign) or overwrite:
        return foreign
    if foreign:
        listed = ", ".join(sorted(foreign)[:5]) + (", ..." if len(foreign) > 5 else "")
        what = f"files that are not part of an hstrat report ({listed})"
    else:
        what = f"a different hstrat report (created {manifest.get('created')})"
    raise FileExistsError(
        f"{out} already holds {what}. Pass overwrite=True (hstrat audit --force) to write "
        "the report there (the files of an earlier report are removed, other files kept), "
        "or choose a new folder."
    )


def _exemplar_rows(
    embeddings: npt.NDArray[Any], members: npt.NDArray[np.bool_], errors: npt.NDArray[np.bool_]
) -> dict[str, npt.NDArray[np.intp]]:
    """Return the members nearest the cluster's centre, then further errors nearest it."""
    index = np.flatnonzero(members)
    points = np.asarray(embeddings[index], dtype=np.float64)
    order = index[np.argsort(((points - points.mean(axis=0)) ** 2).sum(axis=1), kind="stable")]
    rows = {"typical": order[:_EXEMPLARS]}
    more = order[_EXEMPLARS:][errors[order[_EXEMPLARS:]]][:_EXEMPLARS]
    return {**rows, "more errors": more} if len(more) else rows


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-")[:60] or "x"


def _png(fig: Any) -> bytes:
    from ..plot._matplotlib import pyplot

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=_DPI)
    finally:
        pyplot().close(fig)
    return buffer.getvalue()
