"""The paper's training recipe, for the examples and ``hstrat demo``.

hstrat audits models; it does not need to train them. But reproducing the paper means
training a DenseNet the way the audited models were trained (CheXNet-style: ImageNet
weights when available, BCEWithLogitsLoss, Adam, lr 1e-4), and the demo needs a model
that *learns* the drain shortcut from data. These two functions are that recipe, kept
deterministic without touching torch's global random state: weights are initialised
and batches shuffled from a :class:`torch.Generator` made from ``random_state``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validation import RandomState, check_int, check_option, check_random_state
from ..adapters import require_torch

__all__ = ["densenet", "train_classifier"]

ARCHITECTURES = ("compact", "densenet121", "densenet169")
# ImageNet channel statistics used by torchvision's pretrained weights.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _torch_generator(random_state: RandomState) -> Any:
    torch = require_torch("training a model")
    seed = int(check_random_state(random_state).integers(2**63 - 1))
    return torch.Generator().manual_seed(seed)


def densenet(
    architecture: str = "compact",
    *,
    weights: str | Path | None = None,
    random_state: RandomState = None,
) -> Any:
    """Build a DenseNet for 1-channel images with one output logit.

    Parameters
    ----------
    architecture : {"compact", "densenet121", "densenet169"}, default "compact"
        ``"compact"`` is a small torchvision DenseNet (growth rate 12, blocks (3, 3, 3))
        that trains on a CPU in a minute at 64 px; the others are the paper's models.
    weights : "imagenet", path, or None
        ``"imagenet"`` uses torchvision's ImageNet weights **only if they are already in
        the torch hub cache** (nothing is downloaded); a path loads a state dict from a
        file (torchvision's or your own); ``None`` initialises at random. When ImageNet
        weights are asked for but not found, a warning says so loudly and the model
        starts from random weights.
    random_state : int, numpy.random.Generator or None
        Seed of the random initialisation (of every parameter, so the result does not
        depend on torch's global random state, which is left untouched).

    Returns
    -------
    torch.nn.Module
        ``input -> 3 channels -> ImageNet normalisation -> DenseNet -> 1 logit``; its
        last ``Linear`` is ``model.net.classifier`` (the penultimate features are what
        :func:`hstrat.collect` captures).

    Examples
    --------
    >>> import torch
    >>> from hstrat.datasets import densenet
    >>> model = densenet("compact", random_state=0)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 1])
    """
    check_option(architecture, "architecture", ARCHITECTURES)
    torch = require_torch("densenet()")
    import torchvision

    nn = torch.nn
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG
        if architecture == "compact":
            net = torchvision.models.DenseNet(
                growth_rate=12,
                block_config=(3, 3, 3),
                num_init_features=24,
                bn_size=4,
                num_classes=1,
            )
        else:
            net = getattr(torchvision.models, architecture)(weights=None, num_classes=1000)
    _initialise(net, _torch_generator(random_state))
    if weights is not None:
        _load_weights(net, architecture, weights)
    if net.classifier.out_features != 1:
        net.classifier = nn.Linear(net.classifier.in_features, 1)
        _initialise(net.classifier, _torch_generator(random_state))

    class GrayscaleDenseNet(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, x: Any) -> Any:
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            return self.net((x - self.mean) / self.std)

    return GrayscaleDenseNet(net)


def _initialise(module: Any, generator: Any) -> None:
    """Initialise as torchvision does for DenseNets, drawing from ``generator``."""
    torch = require_torch("densenet()")
    nn = torch.nn
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / float(np.sqrt(m.in_features))
            nn.init.uniform_(m.weight, -bound, bound, generator=generator)
            nn.init.constant_(m.bias, 0)


def _load_weights(net: Any, architecture: str, weights: str | Path) -> None:
    torch = require_torch("densenet()")
    if isinstance(weights, str) and weights == "imagenet":
        if architecture == "compact":
            raise ValueError(
                "weights='imagenet' needs architecture 'densenet121' or 'densenet169'."
            )
        import torchvision

        enum = getattr(
            torchvision.models, f"{architecture.replace('densenet', 'DenseNet')}_Weights"
        )
        url = enum.IMAGENET1K_V1.url
        cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if not cached.is_file():
            warnings.warn(
                f"ImageNet weights for {architecture} are not in the torch cache ({cached}); "
                "nothing is downloaded, so the model starts from RANDOM weights and will "
                "need more training. Pass weights=<path> to use a file you have.",
                UserWarning,
                stacklevel=3,
            )
            return
        weights = cached
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # torchvision's released DenseNet files use old key names ("norm.1" for "norm1").
    pattern = re.compile(
        r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
    )
    state = {
        (pattern.sub(lambda m: m.group(1) + m.group(2), k) if pattern.match(k) else k): v
        for k, v in state.items()
    }
    head = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = net.load_state_dict(head, strict=False)
    if unexpected or [k for k in missing if not k.startswith("classifier.")]:
        raise ValueError(
            f"weights file {path} does not fit {architecture}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}."
        )


def train_classifier(
    model: Any,
    dataset: Any,
    *,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-4,
    device: str | None = None,
    amp: bool = True,
    num_workers: int = 0,
    random_state: RandomState = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train a one-logit model with BCEWithLogitsLoss and Adam (the paper's recipe).

    Parameters
    ----------
    model : torch.nn.Module
        Returns one logit per image (shape ``(batch,)`` or ``(batch, 1)``); trained in
        place and left in the training mode it had.
    dataset : map-style dataset
        Yields ``(image, label, ...)`` (the :mod:`hstrat.datasets` format).
    epochs, batch_size, lr : int, int, float
        The recipe's defaults: 2 epochs, batch 128, Adam lr 1e-4.
    device : str, optional
        E.g. ``"cuda"``; default: where the model's parameters are.
    amp : bool, default True
        Mixed precision on CUDA (ignored on the CPU).
    num_workers : int, default 0
        DataLoader worker processes.
    random_state : int, numpy.random.Generator or None
        Seed of the shuffling (the global torch RNG is not used).
    progress : bool, default True
        A progress bar per epoch.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch, batches, images, loss`` (mean training loss).

    Examples
    --------
    >>> from hstrat.datasets import densenet, make_synthetic_cxr, train_classifier
    >>> data = make_synthetic_cxr(32, image_size=32, random_state=0)
    >>> model = densenet(random_state=0)
    >>> log = train_classifier(model, data, epochs=1, batch_size=16, random_state=0,
    ...                        progress=False)
    >>> log[["epoch", "batches", "images"]].to_dict("records")
    [{'epoch': 1, 'batches': 2, 'images': 32}]
    """
    torch = require_torch("train_classifier()")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not (isinstance(lr, float | int) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}.")
    generator = _torch_generator(random_state)
    target = torch.device(device) if device is not None else next(model.parameters()).device
    use_amp = bool(amp) and target.type == "cuda"
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=torch.utils.data.RandomSampler(dataset, generator=generator),
        num_workers=num_workers,
        pin_memory=target.type == "cuda",
    )
    was_training = model.training
    model.to(target).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history = []
    try:
        for epoch in range(1, epochs + 1):
            total, images, batches = 0.0, 0, 0
            bar = _bar(loader, epoch, epochs, progress)
            for batch in bar:
                x = batch[0].to(target, non_blocking=True)
                y = batch[1].to(target, dtype=torch.float32, non_blocking=True).reshape(-1)
                optimiser.zero_grad(set_to_none=True)
                with torch.autocast("cuda", enabled=use_amp):
                    logits = model(x).reshape(len(y), -1)[:, 0]
                    loss = loss_fn(logits.float(), y)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                total += float(loss.detach()) * len(y)
                images += len(y)
                batches += 1
                if progress:
                    bar.set_postfix(loss=f"{total / images:.4f}")
            history.append(
                {"epoch": epoch, "batches": batches, "images": images, "loss": total / images}
            )
    finally:
        model.train(was_training)
    return pd.DataFrame(history)


def _bar(loader: Any, epoch: int, epochs: int, enabled: bool) -> Any:
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=f"train epoch {epoch}/{epochs}", unit="batch", leave=False)
