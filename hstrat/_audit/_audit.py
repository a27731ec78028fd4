"""audit(): collect a model's predictions over a loader, then evaluate them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal, overload

from .._validation import describe
from ._collect import collect
from ._distributed import shard_group, shared_entropy
from ._evaluate import EvaluationOptions, evaluate
from ._report import AuditReport
from ._reports import AuditReports

__all__ = ["audit"]

_COLLECT_OPTIONS = (
    "label_key",
    "input_key",
    "id_key",
    "score_key",
    "metadata_keys",
    "class_names",
    "activation",
    "cache_key",
)


@overload
def audit(
    model: Any, loader: Iterable[Any], strata: Any = None, *, targets: None = None, **kwargs: Any
) -> AuditReport: ...
@overload
def audit(
    model: Any,
    loader: Iterable[Any],
    strata: Any = None,
    *,
    targets: Sequence[int | str] | str,
    **kwargs: Any,
) -> AuditReports: ...
def audit(
    model: Any,
    loader: Iterable[Any],
    strata: Any = None,
    *,
    target: int | str | None = None,
    targets: Sequence[int | str] | str | None = None,
    detectors: Sequence[Any] = (),
    embedding_layer: str | Literal[False] | None = None,
    device: Any = None,
    progress: bool = True,
    cache: str | os.PathLike[str] | None = None,
    distributed: bool | None = None,
    **options: Any,
) -> AuditReport | AuditReports:
    """Audit a model on a data set for hidden stratification: :func:`collect` + evaluate.

    One pass of ``model`` over ``loader`` collects labels, scores, sample ids, metadata
    and penultimate-layer embeddings (:func:`hstrat.collect`); the strata (and the
    clusters ``detectors`` find in the embeddings) are then evaluated exactly as
    :func:`hstrat.evaluate` would evaluate the same scores: for the same scores and
    options the two give the same table.

    Parameters
    ----------
    model : torch.nn.Module, scikit-learn estimator, callable or None
        See :func:`hstrat.collect`.
    loader : iterable of batches
        See :func:`hstrat.collect`.
    strata : dict, list of Stratum, Series, DataFrame or callable, optional
        See :func:`hstrat.evaluate`. Strata keyed by sample id are joined on the ids the
        loader yields; strata given by position are refused when the loader shuffles.
    target : int or str, optional
        Which output of a multi-output model (and which column of multi-hot labels).
    targets : list of int or str, or "all", optional
        Audit several outputs (findings) from the same single pass: an
        :class:`~hstrat.AuditReports` is returned, whose report for each finding equals
        ``audit(..., target=finding)`` with an int ``random_state``. ``strata`` may then
        be a dict of finding → strata, and strata from a :class:`~hstrat.Schema` with a
        ``target`` apply to that finding only. Each finding gets its own copy of the
        ``detectors``.
    detectors : sequence of detector estimators, optional
        E.g. ``[hstrat.detect.KMeansDetector()]``, fitted on the collected embeddings.
    embedding_layer : None, False or str, default None
        Where embeddings come from (see :func:`hstrat.collect`); ``False`` skips them.
    device : str or torch.device, optional
        Torch models only (see :func:`hstrat.collect`).
    progress : bool, default True
        Progress bars for the pass and the bootstrap.
    cache : str or path-like, optional
        Directory that makes the pass resumable and reusable (see :func:`hstrat.collect`).
    distributed : bool or None, default None
        Inside a :mod:`torch.distributed` process group, gather the ranks' shards (see
        :func:`hstrat.collect`). Every rank then returns the same report: with
        ``random_state=None`` rank 0 draws the seed and sends it to the others, detectors
        must have a ``random_state`` of their own, and only rank 0 shows progress bars.
    **options
        Passed to :func:`hstrat.collect` — ``label_key``, ``input_key``, ``id_key``,
        ``score_key``, ``metadata_keys``, ``class_names``, ``activation``,
        ``cache_key`` — or to the
        evaluation — ``groups``, ``threshold``, ``ci``, ``reference``, ``n_resamples``,
        ``confidence_level``, ``method``, ``correction``, ``random_state`` (see
        :func:`hstrat.evaluate`). They are checked before the pass starts.

    Returns
    -------
    AuditReport
        ``report.predictions`` holds what was collected.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> import hstrat
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 4, generator=g)
    >>> y = (x[:, 0] + torch.randn(200, generator=g) > 0).float()
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64)
    >>> site = np.arange(200) % 2  # by position: the loader does not shuffle
    >>> report = hstrat.audit(model, loader, {"site 1": site == 1}, ci="delong",
    ...                       activation="sigmoid", progress=False)
    >>> report.table[["stratum", "n"]]
      stratum    n
    0  overall  200
    1   site 1  100
    """
    collect_options = {k: options.pop(k) for k in _COLLECT_OPTIONS if k in options}
    groups = options.pop("groups", None)
    checked = EvaluationOptions.from_keywords(options)  # before the (possibly long) pass
    if detectors and embedding_layer is False:
        raise ValueError(
            "detectors need embeddings, but embedding_layer=False collects none; drop one."
        )
    group = shard_group(distributed, loader)
    if group is not None:
        _check_detectors_are_seeded(detectors)
        with group:
            if checked.random_state is None:  # the same bootstrap on every rank
                options["random_state"] = shared_entropy(group)
        progress = progress and group.rank == 0
    predictions = collect(
        model,
        loader,
        target=target,
        targets=targets,
        embedding_layer=embedding_layer,
        device=device,
        progress=progress,
        cache=cache,
        distributed=distributed,
        **collect_options,
    )
    return evaluate(
        predictions,
        strata=strata,
        detectors=detectors,
        groups=groups,
        progress=progress,
        **options,
    )


def _check_detectors_are_seeded(detectors: Any) -> None:
    """In a process group every rank fits the detectors: they must find the same clusters."""
    items = detectors if isinstance(detectors, Sequence) else [detectors]
    for detector in items:
        if getattr(detector, "random_state", 0) is None:
            raise ValueError(
                f"detectors: {describe(detector)} has random_state=None. In a process group "
                "every rank fits the detectors, and only a seed makes them find the same "
                "clusters: pass e.g. KMeansDetector(random_state=0)."
            )
