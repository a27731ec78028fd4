"""The recipe both paper examples share: flags, training, checkpoints, the paper's table.

``cxr14_pneumothorax.py`` and ``mura_abnormality.py`` reproduce two audits from
Oakden-Rayner et al. (2020) the same way: the same command-line flags, a DenseNet trained
with ``densenet_training.py``'s recipe (or loaded from ``--checkpoint``, saved there
atomically after training), one scoring loader, and a table of the paper's numbers beside
the run's, written to ``paper_comparison.csv`` and printed. This module holds those shared
steps; what belongs to one data set (loading it, its strata, study aggregation, which of
the paper's numbers to compare) stays in its script.

The scripts import it as ``from paper_recipe import ...``, which works because a script's
own folder is on ``sys.path`` when it is run as ``python examples/<name>.py``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from densenet_training import densenet, train_classifier

import hstrat

# One row of the comparison: this run's value, its interval (NaN where there is none), a note.
Cell = tuple[float, float, float, str]


def add_recipe_arguments(
    parser: argparse.ArgumentParser, *, batch_size: int, out: str, cache_help: str
) -> None:
    """Add the flags both paper examples share, after the data set's own.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser; its data set's flags (``--root`` first) are already added.
    batch_size : int
        Default of ``--batch-size``.
    out : str
        Default of ``--out``, the report directory.
    cache_help : str
        Help text of ``--cache``.
    """
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet' (only if already in the torch cache, else random: a loud warning), "
        "a state-dict file, or 'none' (default %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-resamples", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--checkpoint", help="model file: loaded if it exists, else written")
    parser.add_argument("--cache", help=cache_help)
    parser.add_argument("--out", default=out, help="report directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="fake data, tiny, CPU, seconds")


def parse_recipe_args(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """Parse ``argv``; ``--smoke`` shrinks the run, and without it ``--root`` is required.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A parser with a ``--root`` flag and the flags of :func:`add_recipe_arguments`.
    argv : list of str or None
        The arguments; ``None`` reads ``sys.argv``.

    Returns
    -------
    argparse.Namespace
        The flags; with ``--smoke``, one epoch of one batch of 32 px images on the CPU
        and 200 bootstrap replicates.
    """
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.batch_size, args.image_size = 1, 256, 32  # one batch: one shape
        args.num_workers, args.device, args.n_resamples = 0, "cpu", 200
    elif args.root is None:
        parser.error("--root is required (or --smoke to run on a fake tree)")
    return args


def load_checkpoint(args: argparse.Namespace, num_outputs: int) -> Any | None:
    """Load the model saved at ``args.checkpoint``, if that file exists.

    Parameters
    ----------
    args : argparse.Namespace
        The flags of :func:`add_recipe_arguments`: ``checkpoint``, ``image_size`` (which
        must be the size the model was trained at) and ``device``.
    num_outputs : int
        The outputs the script's model has (a checkpoint with others is refused).

    Returns
    -------
    torch.nn.Module or None
        The model on ``args.device``, or None when there is no checkpoint to load.
    """
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if checkpoint is None or not checkpoint.is_file():
        return None
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if saved["image_size"] != args.image_size:
        raise SystemExit(
            f"{checkpoint} was trained at {saved['image_size']} px, not "
            f"--image-size {args.image_size}; pass the same size or another checkpoint."
        )
    if saved.get("num_outputs", 1) != num_outputs:
        raise SystemExit(
            f"{checkpoint} holds a model with {saved.get('num_outputs', 1)} output(s); this "
            f"script's has {num_outputs}. Pass another --checkpoint to train one."
        )
    model = densenet(saved["architecture"], num_outputs=num_outputs)
    model.load_state_dict(saved["state_dict"])
    print(f"model: loaded {checkpoint} (no training)")
    return model.to(args.device)


def fit(model: Any, train: Any, args: argparse.Namespace, progress: bool) -> None:
    """Train ``model`` on ``train`` with the paper's recipe and print the training log.

    Parameters
    ----------
    model : torch.nn.Module
        The DenseNet, trained in place.
    train : torch.utils.data.Dataset
        The training images.
    args : argparse.Namespace
        The flags of :func:`add_recipe_arguments`: ``epochs``, ``batch_size``, ``lr``,
        ``device``, ``num_workers`` and ``seed``. The batch size grows by one when it would
        leave a last batch of a single image, on which BatchNorm cannot train.
    progress : bool
        Show progress bars.
    """
    batch_size = args.batch_size
    if len(train) % batch_size == 1:  # at small sizes BatchNorm cannot train on one image
        batch_size += 1
    log = train_classifier(
        model,
        train,
        epochs=args.epochs,
        batch_size=batch_size,
        lr=args.lr,
        device=args.device,
        num_workers=args.num_workers,
        random_state=args.seed,
        progress=progress,
    )
    print(log.to_string(index=False))


def save_checkpoint(model: Any, args: argparse.Namespace, architecture: str) -> None:
    """Save ``model`` to ``args.checkpoint``, if given, so that it is never half-written.

    Parameters
    ----------
    model : torch.nn.Module
        The trained DenseNet.
    args : argparse.Namespace
        The flags of :func:`add_recipe_arguments`: ``checkpoint`` (None saves nothing)
        and ``image_size``, saved with the weights.
    architecture : str
        The DenseNet's architecture, as ``densenet_training.densenet`` names it.
    """
    if not args.checkpoint:
        return
    checkpoint = Path(args.checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    partial = checkpoint.with_name(checkpoint.name + ".partial")
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save(
        {
            "architecture": architecture,
            "num_outputs": model.net.classifier.out_features,
            "image_size": args.image_size,
            "state_dict": state,
        },
        partial,
    )
    os.replace(partial, checkpoint)  # never a half-written checkpoint
    print(f"model: saved to {checkpoint}")


def scoring_loader(dataset: Any, args: argparse.Namespace) -> Any:
    """Return the loader that scores ``dataset`` for the audit.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        The images to score.
    args : argparse.Namespace
        The flags of :func:`add_recipe_arguments`: ``batch_size``, ``num_workers`` and
        ``device`` (memory is pinned on CUDA).

    Returns
    -------
    torch.utils.data.DataLoader
        The loader, in the dataset's order.
    """
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        pin_memory=args.device.startswith("cuda"),
    )


def stratum_cell(
    report: hstrat.AuditReport, stratum: str, column: str = "auc", *, absent: str
) -> Cell:
    """Return a stratum's value of ``column`` in ``report``, with its interval and sizes.

    Parameters
    ----------
    report : hstrat.AuditReport
        The audit.
    stratum : str
        The stratum's name in ``report.table``.
    column : str, default "auc"
        A metric of the table with ``<column>_low`` and ``<column>_high`` beside it.
    absent : str
        The note when the report has no such stratum (its value and interval are NaN).

    Returns
    -------
    tuple of (float, float, float, str)
        The value, the interval's low and high ends, and a note with the stratum's
        ``n_pos`` and ``n_neg``.
    """
    table = report.table.set_index("stratum")
    if stratum not in table.index:
        return np.nan, np.nan, np.nan, absent
    row = table.loc[stratum]
    interval = (row[f"{column}_low"], row[f"{column}_high"])
    return row[column], *interval, f"n_pos={int(row['n_pos'])}, n_neg={int(row['n_neg'])}"


def paper_table(paper: Sequence[tuple[str, str, float]], ours: Sequence[Cell]) -> pd.DataFrame:
    """Put the paper's numbers beside this run's, one row a quantity.

    Parameters
    ----------
    paper : sequence of (str, str, float)
        Each quantity's name, its definition and the paper's value (NaN where the paper
        gives none).
    ours : sequence of (float, float, float, str)
        This run's value, interval and note for each quantity, in the same order.

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity``, ``definition``, ``paper``, ``hstrat``, ``ci_low``,
        ``ci_high`` and ``note``.
    """
    rows = [
        {
            "quantity": q,
            "definition": d,
            "paper": p,
            "hstrat": o[0],
            "ci_low": o[1],
            "ci_high": o[2],
            "note": o[3],
        }
        for (q, d, p), o in zip(paper, ours, strict=True)
    ]
    return pd.DataFrame(rows)


def save_comparison(comparison: pd.DataFrame, out: Path, heading: str) -> None:
    """Write ``comparison`` to ``out/paper_comparison.csv`` and print it under ``heading``.

    Parameters
    ----------
    comparison : pandas.DataFrame
        The table of :func:`paper_table`.
    out : pathlib.Path
        The report directory.
    heading : str
        The line printed above the table.
    """
    comparison.to_csv(out / "paper_comparison.csv", index=False)
    print(f"\n{heading}")
    print(comparison.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def paper_pair(detector: Any) -> tuple[int | None, int | None]:
    """Return the paper's high- and low-error clusters of the positives (discovery error rates)."""
    clusters = detector.clusters_
    eligible = clusters[(clusters["class"] == "positives") & clusters["eligible"]]
    if len(eligible) < 2:
        return None, None
    ranked = eligible.sort_values("discovery_error_rate", kind="stable")["cluster"]
    return int(ranked.iloc[-1]), int(ranked.iloc[0])
