"""``hstrat demo``: watch hidden stratification happen, and be caught, on a laptop.

1. Draw a synthetic chest X-ray set where most pneumothoraces carry a chest drain — a
   bright, easy shortcut — and the pneumothorax itself is a subtle sign.
2. Train a compact DenseNet on it on the CPU. Nothing about its performance is built
   in: the gap between drained and undrained cases is what training produces.
3. Audit it on a test set with the paper's schema strata (chest drain, airspace
   opacity) and a k-means detector on its embeddings, and write the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._audit import AuditReport, audit
from ._validation import check_int, check_random_state

__all__ = ["DemoSettings", "run_demo"]


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo; ``fast()`` is the CI smoke version."""

    n_train: int = 5000
    n_test: int = 3000
    image_size: int = 64
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    n_resamples: int = 2000

    @classmethod
    def fast(cls) -> DemoSettings:
        """Return the smoke-test sizes: too small to mean anything, enough to test the path."""
        return cls(n_train=400, n_test=300, image_size=32, epochs=1, n_resamples=200)


def run_demo(
    out: str | Path = "hstrat-demo",
    *,
    seed: int = 0,
    settings: DemoSettings | None = None,
    progress: bool = True,
) -> AuditReport:
    """Generate, train, audit and write the report; return it.

    ``hstrat demo`` calls this; ``tests/test_demo.py`` runs it in the fast mode.
    """
    from .adapters import require_torch
    from .datasets import cxr14_schema, densenet, make_synthetic_cxr, train_classifier
    from .detect import KMeansDetector
    from .strata import Schema

    torch = require_torch("hstrat demo")
    check_int(seed, "seed", minimum=0)
    s = settings or DemoSettings()
    out = Path(out)
    rng = check_random_state(seed)
    seeds = [int(x) for x in rng.integers(2**31 - 1, size=5)]
    started = time.perf_counter()
    say = print

    say(f"hstrat demo: synthetic chest X-rays, seed {seed}, writing to {out}/")
    train = make_synthetic_cxr(
        s.n_train, image_size=s.image_size, split="train", random_state=seeds[0]
    )
    test = make_synthetic_cxr(
        s.n_test, image_size=s.image_size, split="test", random_state=seeds[1]
    )
    say(
        f"  data: {s.n_train} training and {s.n_test} test images; "
        f"{test.metadata['chest_drain'][test.metadata['label'] == 1].mean():.0%} of test "
        "pneumothoraces have a chest drain"
    )
    model = densenet("compact", random_state=seeds[2])
    log = train_classifier(
        model,
        train,
        epochs=s.epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        random_state=seeds[3],
        progress=progress,
    )
    loss = log["loss"].iloc[-1]
    say(f"  trained a compact DenseNet for {s.epochs} epochs (final loss {loss:.3f})")

    schema = Schema.from_dict(cxr14_schema())
    labels = test.metadata[["chest_drain", "airspace_opacity"]]
    strata = schema.to_strata(labels, y_true=test.metadata["label"].to_numpy(), outside="ignore")
    loader: Any = torch.utils.data.DataLoader(test, batch_size=256)
    detector = KMeansDetector(random_state=seeds[4])
    report = audit(
        model,
        loader,
        strata,
        detectors=[detector],
        n_resamples=s.n_resamples,
        random_state=seed,
        progress=progress,
    )
    report.provenance["schema"] = schema.provenance()
    report.provenance["demo"] = {"seed": seed, **s.__dict__}
    paths = report.save(out)
    _save_cluster_figures(report, detector, test, out)
    say("")
    say(_headline(report, detector, test.metadata))
    say("")
    say(
        f"  wrote {', '.join(p.name for p in paths.values())} to {out}/ "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return report


def _row(report: AuditReport, name: str) -> dict[str, Any]:
    rows = report.table[report.table["stratum"] == name]
    return {str(k): v for k, v in rows.iloc[0].items()} if len(rows) else {}


def _headline(report: AuditReport, detector: Any, metadata: pd.DataFrame) -> str:
    level = report.provenance.get("confidence_level", 0.95)

    def auc(name: str) -> str:
        r = _row(report, name)
        return f"{r['auc']:.3f} ({level:.0%} CI {r['auc_low']:.3f}-{r['auc_high']:.3f})"

    drain, no_drain = _row(report, "chest_drain=True"), _row(report, "chest_drain=False")
    lines = [
        "Headline",
        f"  overall AUC                      {auc('overall')}",
        f"  pneumothorax with a chest drain  {auc('chest_drain=True')}",
        f"  pneumothorax without a drain     {auc('chest_drain=False')}",
        f"  difference (without - with)      {no_drain['auc_diff']:+.3f}, "
        f"Holm-adjusted p = {no_drain['p_adjusted']:.2g}",
        f"  sensitivity at the operating point: {drain['sensitivity']:.2f} with a drain, "
        f"{no_drain['sensitivity']:.2f} without",
    ]
    clusters = report.clusters  # the detector's clusters_ with their measured rows
    if clusters is not None and len(clusters):
        top = clusters.iloc[0]
        members = detector.labels_ == top["cluster"]
        positives = metadata["label"].to_numpy() == 1
        drained = metadata["chest_drain"].to_numpy(dtype=bool)
        others = positives & ~members
        lines += [
            f"  detector's worst cluster ({top['class']} class, n={int(top['n'])}): "
            f"AUC {top['auc']:.3f}, drain prevalence {drained[members].mean():.2f} "
            f"vs {drained[others].mean():.2f} in the other positives",
        ]
    return "\n".join(lines)


def _save_cluster_figures(report: AuditReport, detector: Any, test: Any, out: Path) -> None:
    from ._io import atomic_write_bytes
    from .plot import plot_cluster_map, plot_image_grid
    from .plot._matplotlib import pyplot

    if report.predictions is None or report.predictions.embeddings is None:
        return
    plt = pyplot()
    figures = {"clusters.png": plot_cluster_map(detector, report.predictions.embeddings)}
    exemplars = detector.exemplars(k=8)
    if len(exemplars):
        worst = exemplars[exemplars["cluster"] == exemplars["cluster"].iloc[0]]
        figures["worst_cluster.png"] = plot_image_grid(
            test.images[worst["position"].to_numpy()],
            np.arange(len(worst)),
            marked=worst["is_error"].to_numpy(),
            title="Worst cluster: cases nearest its centre (errors framed)",
        )
    import io

    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        atomic_write_bytes(out / name, buffer.getvalue())
