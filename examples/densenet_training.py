"""The paper's model and training recipe: a CheXNet-style DenseNet, trained with BCE.

hstrat audits models; it does not train them. Reproducing the paper, though, means
training a DenseNet the way the audited models were trained — DenseNet-121 (ChestX-ray14)
or DenseNet-169 (MURA), ImageNet weights when available, BCEWithLogitsLoss over every
output, Adam at lr 1e-4, mixed precision on CUDA — and that is what this module does for
``cxr14_pneumothorax.py`` and ``mura_abnormality.py`` (through ``paper_recipe.py``). It
is not part of the hstrat package: the scripts import it from their own folder.

Both functions are deterministic without touching torch's global random state: the
weights are drawn, and the batches shuffled, from ``random_state``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torchvision

ARCHITECTURES = ("densenet121", "densenet169")
# ImageNet channel statistics used by torchvision's pretrained weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GrayscaleDenseNet(torch.nn.Module):
    """A DenseNet that takes 1-channel images: copied to 3 channels, ImageNet-normalised.

    Parameters
    ----------
    net : torchvision.models.DenseNet
        The network; its last ``Linear`` is ``model.net.classifier``, whose input is the
        embedding :func:`hstrat.collect` captures.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of a batch of shape ``(B, 1, H, W)`` (or ``(B, 3, H, W)``)."""
        return self.net((x.expand(-1, 3, -1, -1) - self.mean) / self.std)


def densenet(
    architecture: str = "densenet121",
    *,
    num_outputs: int = 1,
    weights: str | Path | None = None,
    random_state: int = 0,
) -> GrayscaleDenseNet:
    """Build a DenseNet for 1-channel images with ``num_outputs`` logits.

    Parameters
    ----------
    architecture : {"densenet121", "densenet169"}, default "densenet121"
        The paper's models: DenseNet-121 for ChestX-ray14, DenseNet-169 for MURA.
    num_outputs : int, default 1
        Output logits: 1 for one finding, 14 for ChestX-ray14's findings (CheXNet).
    weights : "imagenet", path, or None
        ``"imagenet"`` uses torchvision's ImageNet weights **only if they are already in
        the torch hub cache** (nothing is downloaded); a path loads a state dict from a
        file (torchvision's or your own); ``None`` initialises at random. When ImageNet
        weights are asked for but not found, a warning says so loudly and the model
        starts from random weights. The classifier is always new.
    random_state : int, default 0
        Seed of the random initialisation; torch's global random state is left as it was.

    Returns
    -------
    GrayscaleDenseNet

    Examples
    --------
    >>> import torch
    >>> model = densenet(num_outputs=14)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 14])
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}.")
    with torch.random.fork_rng(devices=[]):  # torchvision initialises from the global RNG
        torch.manual_seed(random_state)
        net = getattr(torchvision.models, architecture)(weights=None, num_classes=num_outputs)
    if weights is not None:
        _load_weights(net, architecture, weights)
    return GrayscaleDenseNet(net)


def _load_weights(net: torch.nn.Module, architecture: str, weights: str | Path) -> None:
    """Load every weight but the classifier's from ImageNet (cached) or a file."""
    if weights == "imagenet":
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
    old_name = re.compile(
        r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
    )
    state = {old_name.sub(r"\1\2", k): v for k, v in state.items()}
    body = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = net.load_state_dict(body, strict=False)
    if unexpected or [k for k in missing if not k.startswith("classifier.")]:
        raise ValueError(
            f"weights file {path} does not fit {architecture}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}."
        )


def train_classifier(
    model: torch.nn.Module,
    dataset: Any,
    *,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-4,
    device: str | None = None,
    amp: bool = True,
    num_workers: int = 0,
    random_state: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Train with BCEWithLogitsLoss over every output and Adam (the paper's recipe).

    Parameters
    ----------
    model : torch.nn.Module
        Returns one logit per finding, shape ``(batch, n_findings)`` (or ``(batch,)`` for
        one finding); trained in place and left in the training mode it had.
    dataset : map-style dataset
        Yields ``(image, label, ...)`` (the :mod:`hstrat.datasets` format); the label is
        0/1, or a multi-hot vector with one entry per output.
    epochs, batch_size, lr : int, int, float
        The recipe's defaults: 2 epochs, batch 128, Adam lr 1e-4.
    device : str, optional
        E.g. ``"cuda"``; default: where the model's parameters are.
    amp : bool, default True
        Mixed precision on CUDA (ignored on the CPU).
    num_workers : int, default 0
        DataLoader worker processes.
    random_state : int, default 0
        Seed of the shuffling (torch's global random state is not used).
    progress : bool, default True
        A progress bar per epoch.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch, batches, images, loss`` (mean training loss).

    Examples
    --------
    >>> from hstrat.datasets import make_synthetic_cxr
    >>> data = make_synthetic_cxr(32, image_size=32, random_state=0)
    >>> log = train_classifier(densenet(), data, epochs=1, batch_size=16, progress=False)
    >>> log[["epoch", "batches", "images"]].to_dict("records")
    [{'epoch': 1, 'batches': 2, 'images': 32}]
    """
    target = torch.device(device) if device is not None else next(model.parameters()).device
    use_amp = amp and target.type == "cuda"
    generator = torch.Generator().manual_seed(random_state)
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
                y = batch[1].to(target, dtype=torch.float32, non_blocking=True)
                y = y.reshape(len(x), -1)
                optimiser.zero_grad(set_to_none=True)
                with torch.autocast("cuda", enabled=use_amp):
                    logits = model(x).reshape(len(x), -1)
                if logits.shape != y.shape:
                    raise ValueError(
                        f"the model returns {logits.shape[1]} output(s) per image but the "
                        f"labels have {y.shape[1]}; they must match one to one."
                    )
                loss = loss_fn(logits.float(), y)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                total += float(loss.detach()) * len(x)
                images += len(x)
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
