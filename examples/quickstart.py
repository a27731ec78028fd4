"""Quickstart: train a model on synthetic chest X-rays, then audit it for hidden stratification.

    python examples/quickstart.py                    # a minute or two on a laptop CPU
    python examples/quickstart.py --out my-audit --seed 1
    python examples/quickstart.py --smoke            # seconds: tiny data, for CI

Most synthetic pneumothoraces carry a chest drain, a bright tube that is far easier to see
than the pneumothorax itself. A network trained on them learns the drain, and the audit
shows what its overall AUC hides: pneumothorax *without* a drain is detected much less
well. Steps 1 and 2 stand in for your data and your model; steps 3 and 4, the audit, are
the same for any PyTorch model and data loader. (``hstrat demo`` runs this experiment
with a compact DenseNet and no code.)
"""

from __future__ import annotations

import argparse

import torch

import hstrat
from hstrat.datasets import cxr14_schema, make_synthetic_cxr
from hstrat.detect import KMeansDetector


def main(argv: list[str] | None = None) -> hstrat.AuditReport:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="quickstart-audit", help="report directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny and fast")
    args = parser.parse_args(argv)
    n_train, n_test, size, epochs, n_resamples = (
        (400, 300, 32, 1, 200) if args.smoke else (5000, 3000, 64, 4, 2000)
    )

    # 1. Data: training and test sets drawn with different seeds (different patients).
    #    Each item is (image, label, index); test.metadata holds the true subclasses.
    train = make_synthetic_cxr(n_train, image_size=size, split="train", random_state=args.seed)
    test = make_synthetic_cxr(n_test, image_size=size, split="test", random_state=args.seed + 1)

    # 2. Model: any torch.nn.Module that returns one logit per image. Here a small
    #    convolutional network, trained with BCEWithLogitsLoss and Adam.
    torch.manual_seed(args.seed)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 1),
    )  # fmt: skip
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for x, y, _ in torch.utils.data.DataLoader(train, batch_size=64, shuffle=True):
            optimiser.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y)
            loss.backward()
            optimiser.step()

    # 3. Strata: the paper's schema says chest_drain subdivides the positives (each
    #    drain stratum is compared against all negatives) and airspace_opacity applies
    #    to everyone. The labels here are the test set's true subclasses; chest_drain
    #    is filled in for negatives too, which outside="ignore" leaves out.
    schema = hstrat.Schema.from_dict(cxr14_schema())
    labels = test.metadata[["chest_drain", "airspace_opacity"]]
    strata = schema.to_strata(labels, y_true=test.labels, outside="ignore")

    # 4. Audit: one pass over the test loader collects scores and penultimate-layer
    #    embeddings; the strata are evaluated (bootstrap intervals, tests against the
    #    complement, sensitivity at one operating point) and k-means on the embeddings
    #    looks for clusters on which the model fails.
    loader = torch.utils.data.DataLoader(test, batch_size=256)
    report = hstrat.audit(
        model,
        loader,
        strata,
        detectors=[KMeansDetector(random_state=args.seed)],
        activation="sigmoid",  # the model returns logits
        n_resamples=n_resamples,
        random_state=args.seed,
        progress=not args.smoke,
    )
    print(report)
    for kind, path in report.save(args.out, overwrite=True).items():  # report.html, table.csv, ...
        print(f"{kind:>6}: {path}")
    return report


if __name__ == "__main__":
    main()
