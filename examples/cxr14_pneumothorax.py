"""Reproduce the paper's ChestX-ray14 audit: one 14-finding DenseNet-121, every finding audited.

    python examples/cxr14_pneumothorax.py --root /data/ChestX-ray14 \
        --drain-labels /data/NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv \
        --expert-labels /data/google-labels/test_labels.csv \
        --out cxr14-audit --checkpoint cxr14-densenet121.pt --cache cxr14-cache
    python examples/cxr14_pneumothorax.py --smoke     # a fake tree, end to end on the CPU

Oakden-Rayner et al. (2020) audited a CheXNet-style DenseNet-121 trained on NIH
ChestX-ray14 and found its pneumothorax AUC of 0.87 to hide 0.94 on cases with a chest
drain and 0.77 on cases without one. This script trains one such model, with **14
outputs**, one per finding of :data:`hstrat.datasets.CXR14_FINDINGS` (multi-hot labels,
``load_cxr14(target="all")``; BCEWithLogitsLoss over every output), with the paper's
recipe — ImageNet weights (used only when they are already in the torch cache, or given
as a file), 224 px, Adam lr 1e-4, batch 128, 2 epochs, mixed precision on CUDA — on a
patient-level split of ``train_val_list.txt``. It then audits **all 14 findings in one
pass** over the official test list (``hstrat.audit(..., targets="all")``):

* every finding: its AUC with intervals, the operating point, and k-means on the
  penultimate features, in the paper's procedure (``criterion="paper"``) and hstrat's
  default (``criterion="error_rate"``, ranked by AUC), each finding's clusters its own;
* pneumothorax, besides: the strata of the paper's schema, ``chest_drain`` (NEATX labels,
  ``--drain-labels``; each drain stratum's positives against all negatives) and
  ``airspace_opacity`` (Google's expert labels, ``--expert-labels``, or else a proxy from
  the NIH labels). The schema's target is ``Pneumothorax``, so its strata apply to that
  finding only;
* bootstrap intervals resampling whole patients (``groups=``).

It writes the audit to ``--out``: ``index.html``, one row per finding (its AUC and its
worst stratum, linked to its report), a report folder per finding (``pneumothorax/``,
``effusion/`` ...: ``report.html``, ``table.csv``, ``report.json``, figures), and
``paper_comparison.csv``, the paper's pneumothorax numbers beside this run's.
``--checkpoint`` saves the trained model, or loads it when the file exists, so the audit
can be rerun without retraining; ``--cache`` keeps the scored test set on disk. Nothing
is downloaded. Needs a GPU for the full run (about 86,000 training images); ``--smoke``
writes a fake ChestX-ray14 tree (``fake_datasets.py``, every finding in it) to a
temporary folder and runs every step on it on the CPU. What this script shares with
``mura_abnormality.py`` (the flags, training, checkpoints, the paper's table) is in
``paper_recipe.py`` beside it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from densenet_training import densenet
from fake_datasets import write_fake_cxr14
from paper_recipe import (
    Cell,
    add_recipe_arguments,
    fit,
    load_checkpoint,
    paper_pair,
    paper_table,
    parse_recipe_args,
    save_checkpoint,
    save_comparison,
    scoring_loader,
    stratum_cell,
)

import hstrat
from hstrat.datasets import CXR14_FINDINGS, cxr14_schema, load_cxr14
from hstrat.detect import KMeansDetector

ARCHITECTURE = "densenet121"
PAPER_FINDING = "Pneumothorax"  # the finding the paper audited, and its schema's target
# (quantity, definition, the paper's value) — Oakden-Rayner et al. 2020, see
# docs/reproduction.md for the definitions.
PAPER = [
    ("AUC overall", "all pneumothorax positives vs all negatives", 0.87),
    ("AUC with chest drain", "drain positives vs ALL negatives", 0.94),
    ("AUC without chest drain", "no-drain positives vs ALL negatives", 0.77),
    ("PPV with chest drain", "TP / (TP + FP) at the operating point, drain positives", 0.90),
    ("PPV without chest drain", "the same for no-drain positives", 0.60),
    ("drain prevalence among positives", "labelled test pneumothoraces with a drain", 0.80),
    ("drain prevalence, high-error cluster", "k-means (paper mode), positives", 0.17),
    ("drain prevalence, low-error cluster", "k-means (paper mode), positives", 0.84),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="NIH ChestX-ray14 folder (Data_Entry_*.csv, lists, PNGs)")
    parser.add_argument("--drain-labels", help="NEATX chest-drain CSV (or its folder)")
    parser.add_argument("--expert-labels", help="Google expert labels test_labels.csv")
    add_recipe_arguments(
        parser,
        batch_size=128,
        out="cxr14-audit",
        cache_help="directory for the audit's resumable cache",
    )
    return parse_recipe_args(parser, argv)


def main(argv: list[str] | None = None) -> hstrat.AuditReports:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hstrat-fake-cxr14-") as tmp:
        if args.smoke:  # a fake ChestX-ray14 tree with both label files, in tmp
            args.root = write_fake_cxr14(
                Path(tmp) / "cxr14",
                n_images=240,
                prevalence=0.4,
                drain_rate=0.7,
                image_size=args.image_size,
                random_state=args.seed,
            )
            args.drain_labels = args.expert_labels = args.root
        return run(args)


def run(args: argparse.Namespace) -> hstrat.AuditReports:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.smoke
    data = {"root": args.root, "target": "all", "image_size": args.image_size}
    data["random_state"] = args.seed

    # 1. The model: 14 outputs, trained on the patient-level train split, or loaded.
    model = train_or_load(args, data, progress)

    # 2. The test list, every finding's labels, and the strata of pneumothorax: chest
    #    drain (NEATX) and airspace opacity.
    test = load_cxr14(
        split="test", drain_labels=args.drain_labels, expert_labels=args.expert_labels, **data
    )
    meta = test.metadata
    print(
        f"test: {len(test)} images, {int(meta['pneumothorax'].sum())} with pneumothorax; "
        f"chest drain from {meta['chest_drain_source'].iloc[0]}, "
        f"airspace opacity from {meta['airspace_opacity_source'].iloc[0]}"
    )
    schema = hstrat.Schema.from_dict(cxr14_schema())  # target "Pneumothorax"
    strata = schema.to_strata(
        meta[["chest_drain", "airspace_opacity"]],
        y_true=meta["pneumothorax"].to_numpy(),
        outside="ignore",  # a drain labelled on a negative image is not a pneumothorax stratum
    )

    # 3. The audit of all 14 findings in one pass: strata (pneumothorax's), two k-means
    #    detectors per finding, patients resampled together.
    reports = hstrat.audit(
        model,
        scoring_loader(test, args),
        strata,
        targets="all",
        class_names=CXR14_FINDINGS,
        detectors=[make_detector(mode, args) for mode in ("paper", "rank")],
        groups=meta["patient_id"].to_numpy(),
        device=args.device,
        cache=args.cache,
        activation="sigmoid",  # 14 logits (trained with BCEWithLogitsLoss)
        n_resamples=args.n_resamples,
        random_state=args.seed,
        progress=progress,
    )
    for report in reports.values():
        report.provenance["example"] = {k: str(v) for k, v in vars(args).items()}
    reports[PAPER_FINDING].provenance["schema"] = schema.provenance()
    print(reports)
    print(f"\n{reports[PAPER_FINDING]}")
    reports.save(out, overwrite=True)

    # 4. Pneumothorax side by side with the paper.
    comparison = compare_with_paper(reports[PAPER_FINDING], meta, args)
    save_comparison(comparison, out, "The paper (Oakden-Rayner et al. 2020) and this run:")
    print(
        f"\nwrote index.html, a report folder for each of the {len(reports)} findings and "
        f"paper_comparison.csv to {out}/"
    )
    return reports


def make_detector(mode: str, args: argparse.Namespace) -> KMeansDetector:
    """k-means on the penultimate features: the paper's procedure, or hstrat's ranking."""
    return KMeansDetector(
        criterion={"paper": "paper", "rank": "error_rate"}[mode],
        name=f"kmeans_{mode}",
        min_cluster_size=3 if args.smoke else "auto",
        random_state=args.seed,
    )


def train_or_load(args: argparse.Namespace, data: dict[str, Any], progress: bool) -> Any:
    model = load_checkpoint(args, num_outputs=len(CXR14_FINDINGS))
    if model is not None:
        return model

    weights = None if args.weights == "none" else args.weights
    model = densenet(
        ARCHITECTURE, num_outputs=len(CXR14_FINDINGS), weights=weights, random_state=args.seed
    )
    train = load_cxr14(split="train", **data)
    val = load_cxr14(split="val", **data)
    print(
        f"train: {len(train)} images of {train.metadata['patient_id'].nunique()} patients; "
        f"val: {len(val)} images of {val.metadata['patient_id'].nunique()} other patients"
    )
    fit(model, train, args, progress)
    validation_auc(model, val, args, progress)
    save_checkpoint(model, args, ARCHITECTURE)
    return model


def validation_auc(model: Any, val: Any, args: argparse.Namespace, progress: bool) -> None:
    loader = torch.utils.data.DataLoader(
        val, batch_size=args.batch_size, num_workers=args.num_workers
    )
    predictions = hstrat.collect(
        model,
        loader,
        targets="all",
        class_names=CXR14_FINDINGS,
        embedding_layer=False,
        device=args.device,
        activation="sigmoid",  # 14 logits (trained with BCEWithLogitsLoss)
        progress=progress,
    )
    aucs = {
        finding: hstrat.metrics.auc(p.y_true, p.y_score)
        for finding, p in predictions.items()
        if 0 < p.y_true.sum() < len(p.y_true)  # both classes in the val split
    }
    pneumothorax = aucs.get(PAPER_FINDING, np.nan)
    print(
        f"val: mean AUC {np.mean(list(aucs.values())):.3f} over {len(aucs)} findings with "
        f"both classes, pneumothorax {pneumothorax:.3f}, on {len(val)} images"
    )


def compare_with_paper(
    report: hstrat.AuditReport, meta: pd.DataFrame, args: argparse.Namespace
) -> pd.DataFrame:
    def cell(stratum: str, column: str) -> Cell:
        return stratum_cell(
            report, stratum, column, absent="stratum absent (needs --drain-labels)"
        )

    positives = meta["pneumothorax"].to_numpy() == 1
    drain = meta["chest_drain"]
    labelled = positives & drain.notna().to_numpy()
    drained = drain.fillna(False).to_numpy(dtype=bool)
    prevalence = (
        (drained[labelled].mean(), np.nan, np.nan, f"{int(labelled.sum())} labelled positives")
        if labelled.any()
        else (np.nan, np.nan, np.nan, "no drain labels")
    )
    ours = [
        cell("overall", "auc"),
        cell("chest_drain=True", "auc"),
        cell("chest_drain=False", "auc"),
        cell("chest_drain=True", "ppv"),
        cell("chest_drain=False", "ppv"),
        prevalence,
        *cluster_drain_prevalence(report, args, drained, labelled),
    ]
    return paper_table(PAPER, ours)


def cluster_drain_prevalence(
    report: hstrat.AuditReport, args: argparse.Namespace, drained: Any, labelled: Any
) -> list[Cell]:
    """Drain prevalence in the paper-mode high- and low-error positive clusters, all members.

    The audit fits each finding's own copy of the detectors and keeps their clusters'
    held-out members as strata; the paper counted every member, so the pneumothorax
    detector is fitted again here on the same predictions (the same seed finds the same
    clusters, which is checked).
    """
    predictions = report.predictions
    detector = make_detector("paper", args).fit(
        predictions.embeddings,
        y_true=predictions.y_true,
        y_score=predictions.y_score,
        threshold=report.threshold,
    )
    audited = report.clusters[report.clusters["detector"] == "kmeans_paper"]
    if list(audited["name"]) != list(detector.clusters_["name"]):
        raise RuntimeError("refitting the paper-mode detector found other clusters")
    positions = np.asarray(predictions.ids, dtype=int)  # the loader's order
    out = []
    for cluster in paper_pair(detector):
        if cluster is None or not labelled.any():
            out.append((np.nan, np.nan, np.nan, "no such cluster or no drain labels"))
            continue
        members = np.zeros(len(drained), dtype=bool)
        members[positions[detector.labels_ == cluster]] = True
        members &= labelled
        value = drained[members].mean() if members.any() else np.nan
        out.append((value, np.nan, np.nan, f"{int(members.sum())} labelled positives"))
    return out


if __name__ == "__main__":
    main()
