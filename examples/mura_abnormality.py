"""Reproduce the paper's MURA audit: DenseNet-169, study-level AUC per body part and subclass.

    python examples/mura_abnormality.py --root /data/MURA --out mura-audit \
        --checkpoint mura-densenet169.pt --cache mura-cache
    python examples/mura_abnormality.py --root /data/MURA --labels mura_labels.csv
    python examples/mura_abnormality.py --smoke       # a fake tree, end to end in seconds

Oakden-Rayner et al. (2020) audited a DenseNet-169 trained on MURA v1.1 (abnormal vs
normal musculoskeletal radiographs): an AUC of 0.91 overall hid 0.98 on studies with
orthopaedic hardware and 0.76 on degenerative joint disease. This script trains the same
model with the same recipe as the ChestX-ray14 example — ImageNet weights when already
cached (or from a file), 224 px, BCEWithLogitsLoss, Adam lr 1e-4, batch 64, 2 epochs,
mixed precision on CUDA — on every image of MURA's ``train`` split, each labelled with
its study's label, then audits MURA's ``valid`` split **per study**, as MURA is labelled:

* each study's score is the mean (the main report) or the maximum (``<out>/max/``) of its
  images' scores (:func:`hstrat.datasets.aggregate_to_study`);
* **per body part**, always: one stratum per body part — ``body_part=ELBOW``,
  ``body_part=FINGER``, ``FOREARM``, ``HAND``, ``HUMERUS``, ``SHOULDER``, ``WRIST``, from
  the ``XR_<BODY PART>`` folder of each study — each an ordinary subgroup (its abnormal
  against its normal studies) tested against the other body parts; the script prints
  the abnormality AUC of each body part;
* with ``--labels``, the paper's subclasses ``fracture``, ``hardware`` and
  ``degenerative_joint_disease`` of abnormal studies, each against all normal studies
  (:func:`hstrat.datasets.mura_schema`);
* k-means (the paper's procedure) on each study's mean embedding;
* bootstrap intervals resampling whole patients (``groups=``).

MURA's subclass labels are not public: label the abnormal ``valid`` studies yourself with
``hstrat label`` and the MURA schema (``hstrat schema`` writes it). ``--labels`` is that
CSV: an ``id`` column with the study (as in ``load_mura(...).metadata["study"]``, e.g.
``valid/XR_WRIST/patient11185/study1_positive``) and one column per subclass,
``True``/``False``, empty where not labelled.

Writes the report (``report.html``, ``table.csv``, ``report.json``, figures) and
``paper_comparison.csv`` to ``--out``. ``--checkpoint`` saves the trained model, or loads
it when the file exists; ``--cache`` keeps the scored valid set on disk. Nothing is
downloaded. ``--smoke`` writes a fake MURA tree with subclass labels
(``fake_datasets.py``) to a temporary folder and runs every step on the CPU. What this
script shares with ``cxr14_pneumothorax.py`` (the flags, training, checkpoints, the
paper's table) is in ``paper_recipe.py`` beside it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from densenet_training import densenet
from fake_datasets import write_fake_mura
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
from hstrat.datasets import aggregate_to_study, load_mura, mura_schema
from hstrat.detect import KMeansDetector
from hstrat.strata import read_labels

ARCHITECTURE = "densenet169"
SUBCLASSES = ("fracture", "hardware", "degenerative_joint_disease")
# (quantity, definition, the paper's value) — Oakden-Rayner et al. 2020, see
# docs/reproduction.md for the definitions.
PAPER = [
    ("AUC overall", "abnormal vs normal valid studies (study score: mean)", 0.91),
    ("AUC overall, max of images", "the same with the study score the max", np.nan),
    ("AUC overall (images)", "every valid image labelled by its study", np.nan),
    ("AUC fracture", "fracture studies vs ALL normal studies", np.nan),
    ("AUC hardware", "hardware studies vs ALL normal studies", 0.98),
    ("AUC degenerative joint disease", "DJD studies vs ALL normal studies", 0.76),
    ("prevalence fracture", "among labelled abnormal studies", 0.30),
    ("prevalence hardware", "among labelled abnormal studies", 0.11),
    ("prevalence degenerative joint disease", "among labelled abnormal studies", 0.43),
    ("hardware prevalence, high-error cluster", "k-means (paper mode), abnormal", 0.29),
    ("hardware prevalence, low-error cluster", "k-means (paper mode), abnormal", 0.26),
    ("DJD prevalence, high-error cluster", "k-means (paper mode), abnormal", 0.12),
    ("DJD prevalence, low-error cluster", "k-means (paper mode), abnormal", 0.08),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="folder holding MURA-v1.1 (or MURA-v1.1 itself)")
    parser.add_argument("--labels", help="subclass labels CSV of valid studies (hstrat label)")
    parser.add_argument("--annotator", help="whose labels, when --labels holds several")
    add_recipe_arguments(
        parser,
        batch_size=64,
        out="mura-audit",
        cache_help="directory for the scoring pass's resumable cache",
    )
    return parse_recipe_args(parser, argv)


def main(argv: list[str] | None = None) -> hstrat.AuditReport:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hstrat-fake-mura-") as tmp:
        if args.smoke:  # a fake MURA tree with subclass labels, in tmp
            args.root = write_fake_mura(
                Path(tmp) / "mura",
                n_studies=150,
                image_size=args.image_size,
                random_state=args.seed,
            )
            args.labels = args.root / "mura_subclass_labels.csv"  # what hstrat label writes
        return run(args)


def run(args: argparse.Namespace) -> hstrat.AuditReport:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.smoke

    # 1. The model: trained on every image of MURA's train split, or loaded.
    model = train_or_load(args, progress)

    # 2. Score every valid image once, keeping the penultimate features.
    valid = load_mura(args.root, split="valid", image_size=args.image_size)
    loader = scoring_loader(valid, args)
    images = hstrat.collect(
        model,
        loader,
        device=args.device,
        cache=args.cache,
        activation="sigmoid",  # one logit (trained with BCEWithLogitsLoss)
        progress=progress,
    )
    meta = valid.metadata.iloc[np.asarray(images.ids, dtype=int)].reset_index(drop=True)
    image_auc = hstrat.metrics.auc(images.y_true, images.y_score)
    print(
        f"valid: {len(valid)} images, {meta['study'].nunique()} studies; "
        f"image-level AUC {image_auc:.3f}"
    )

    # 3. Study-level audits: mean (the main report) and max of the image scores.
    schema = hstrat.Schema.from_dict(mura_schema())
    labels = None
    if args.labels:  # checked against the schema: True/False, NaN where not labelled
        given = read_labels(args.labels, annotator=args.annotator)
        labels = schema.validate(given, variables=SUBCLASSES)
    reports, detectors, study_tables = {}, {}, {}
    for how in ("mean", "max"):
        studies = study_tables[how] = aggregate_to_study(images.y_score, meta, how=how)
        detectors[how] = KMeansDetector(
            criterion="paper",
            random_state=args.seed,
            min_cluster_size=3 if args.smoke else "auto",
        )
        reports[how] = hstrat.evaluate(
            studies["label"],
            studies["score"],
            study_strata(schema, studies, labels),
            ids=studies["study"],
            groups=studies["patient"],
            embeddings=study_embeddings(images.embeddings, meta, studies),
            detectors=[detectors[how]],
            n_resamples=args.n_resamples,
            random_state=args.seed,
            progress=progress,
        )
        reports[how].provenance["schema"] = schema.provenance()
        reports[how].provenance["example"] = {k: str(v) for k, v in vars(args).items()}
        reports[how].provenance["study_score"] = how
    report = reports["mean"]
    print(report)
    report.save(out, overwrite=True)
    reports["max"].save(out / "max", overwrite=True)

    # 4. Abnormality per body part: the body_part strata of the study-level audit.
    print("\nAbnormality by body part (study scores: mean):")
    print(body_parts(report).to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    # 5. Side by side with the paper.
    comparison = compare_with_paper(
        reports, image_auc, detectors["mean"], study_tables["mean"], labels
    )
    save_comparison(
        comparison, out, "The paper (Oakden-Rayner et al. 2020) and this run (study scores: mean):"
    )
    print(
        f"\nwrote report.html, table.csv, report.json, paper_comparison.csv to {out}/ "
        f"(the max-aggregated report to {out / 'max'}/)"
    )
    return report


def study_strata(schema: hstrat.Schema, studies: pd.DataFrame, labels: Any) -> list[Any]:
    """Body part for every study; the subclasses of abnormal studies when labelled."""
    table = pd.DataFrame({"body_part": studies["body_part"].to_numpy()}, index=studies["study"])
    if labels is not None:
        unknown = labels.index.difference(table.index)
        if len(unknown):
            raise SystemExit(
                f"--labels has {len(unknown)} id(s) that are not valid studies, e.g. "
                f"{unknown[0]!r}; ids are study folders like {table.index[0]!r}."
            )
        table = table.join(labels[list(SUBCLASSES)])
    y_true = pd.Series(studies["label"].to_numpy(), index=studies["study"])
    # outside="ignore": a subclass label on a normal study is not a stratum of abnormal ones
    return schema.to_strata(
        table, y_true=y_true, ids=studies["study"], variables=list(table), outside="ignore"
    )


def body_parts(report: hstrat.AuditReport) -> pd.DataFrame:
    """Return the audit's body-part rows: AUC with interval, p against the other parts."""
    rows = report.table[report.table["variable"] == "body_part"]
    columns = ["level", "n_pos", "n_neg", "auc", "auc_low", "auc_high", "p_adjusted"]
    return rows[columns].rename(columns={"level": "body_part"})


def study_embeddings(embeddings: Any, meta: pd.DataFrame, studies: pd.DataFrame) -> Any:
    """Each study's mean image embedding, in the order of ``studies``."""
    frame = pd.DataFrame(np.asarray(embeddings, dtype=np.float64))
    return frame.groupby(meta["study"].to_numpy()).mean().loc[studies["study"]].to_numpy()


def train_or_load(args: argparse.Namespace, progress: bool) -> Any:
    model = load_checkpoint(args, num_outputs=1)
    if model is not None:
        return model

    weights = None if args.weights == "none" else args.weights
    model = densenet(ARCHITECTURE, weights=weights, random_state=args.seed)
    train = load_mura(args.root, split="train", image_size=args.image_size)
    print(
        f"train: {len(train)} images, {train.metadata['study'].nunique()} studies, "
        f"{train.metadata['patient'].nunique()} patients"
    )
    fit(model, train, args, progress)
    save_checkpoint(model, args, ARCHITECTURE)
    return model


def compare_with_paper(
    reports: dict[str, hstrat.AuditReport],
    image_auc: float,
    detector: Any,
    studies: Any,
    labels: Any,
) -> pd.DataFrame:
    nan_row = (np.nan, np.nan, np.nan)

    def auc(how: str, stratum: str) -> Cell:
        return stratum_cell(reports[how], stratum, absent="stratum absent (needs --labels)")

    abnormal = studies["label"].to_numpy() == 1
    flags = {}
    for name in SUBCLASSES:
        if labels is None:
            flags[name] = None
            continue
        flags[name] = labels[name].reindex(studies["study"]).to_numpy(dtype=object)

    def prevalence(name: str, members: Any = None) -> Cell:
        if flags[name] is None:
            return (*nan_row, "needs --labels")
        chosen = abnormal & pd.notna(flags[name]) & (True if members is None else members)
        if not chosen.any():
            return (*nan_row, "no labelled abnormal studies here")
        value = float(np.mean(flags[name][chosen].astype(bool)))
        return value, np.nan, np.nan, f"{int(chosen.sum())} labelled abnormal studies"

    def cluster(role: str) -> Any:
        high, low = paper_pair(detector)
        chosen = high if role == "high-error" else low
        if chosen is None:
            return np.zeros(len(studies), dtype=bool)
        return detector.labels_ == chosen

    ours = [
        auc("mean", "overall"),
        auc("max", "overall"),
        (image_auc, np.nan, np.nan, "image level; the common recipe reaches about 0.88"),
        auc("mean", "fracture=True"),
        auc("mean", "hardware=True"),
        auc("mean", "degenerative_joint_disease=True"),
        prevalence("fracture"),
        prevalence("hardware"),
        prevalence("degenerative_joint_disease"),
        prevalence("hardware", cluster("high-error")),
        prevalence("hardware", cluster("low-error")),
        prevalence("degenerative_joint_disease", cluster("high-error")),
        prevalence("degenerative_joint_disease", cluster("low-error")),
    ]
    return paper_table(PAPER, ours)


if __name__ == "__main__":
    main()
