"""audit(): collect a model's predictions over a loader, then evaluate them."""

from __future__ import annotations

import inspect
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

    The collected predictions are evaluated as :func:`hstrat.evaluate` would: same table.

    Parameters
    ----------
    model, loader, target, embedding_layer, device, cache
        See :func:`hstrat.collect`.
    strata : dict, list of Stratum, Series, DataFrame or callable, optional
        See :func:`hstrat.evaluate`. Strata keyed by id are joined on the loader's ids;
        strata by position are refused when the loader shuffles.
    targets : list of int or str, or "all", optional
        Audit several outputs (findings) in one pass: an :class:`~hstrat.AuditReports`
        is returned, each report equal to ``audit(..., target=finding)`` with an int
        ``random_state``. ``strata`` may be a dict of finding → strata; strata from a
        :class:`~hstrat.Schema` with a ``target`` apply to that finding only; each
        finding gets its own copy of the ``detectors``.
    detectors : sequence of detector estimators, optional
        E.g. ``[hstrat.detect.KMeansDetector()]``, fitted on the collected embeddings.
    progress : bool, default True
        Progress bars for the pass and the bootstrap.
    distributed : bool or None, default None
        See :func:`hstrat.collect`. Every rank returns the same report: with
        ``random_state=None`` rank 0 draws the seed for all, detectors need a
        ``random_state`` of their own, and only rank 0 shows progress bars.
    **options
        The other options of :func:`hstrat.collect` (``label_key``, ``activation``,
        ``cache_key``, ...) and of :func:`hstrat.evaluate` (``groups``, ``threshold``,
        ``ci``, ``n_resamples``, ``random_state``, ...), checked before the pass.

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
    own = inspect.signature(audit).parameters
    collect_options = {
        k: options.pop(k)
        for k in inspect.signature(collect).parameters
        if k not in own
        if k in options
    }
    groups = options.pop("groups", None)
    checked = EvaluationOptions.from_keywords(options)  # before the (possibly long) pass
    if detectors and embedding_layer is False:
        raise ValueError(
            "detectors need embeddings, but embedding_layer=False collects none; drop one."
        )
    group = shard_group(distributed, loader)
    if group is not None:
        for detector in detectors if isinstance(detectors, Sequence) else [detectors]:
            if getattr(detector, "random_state", 0) is None:  # ranks would differ
                raise ValueError(
                    f"detectors: {describe(detector)} has random_state=None. In a process "
                    "group every rank fits the detectors, and only a seed makes them find the "
                    "same clusters: pass e.g. KMeansDetector(random_state=0)."
                )
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
