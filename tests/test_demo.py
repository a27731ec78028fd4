import pandas as pd
import pytest

from hstrat.cli import main


# The fast mode's test set is tiny, so some clusters are below the size at which an
# interval is reliable; that warning is expected here and only here.
@pytest.mark.slow  # trains a model twice
@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_demo_fast_mode_end_to_end_and_deterministic(tmp_path, capsys):
    assert (
        main(["demo", "--fast", "--out", str(tmp_path / "a"), "--seed", "3", "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert "chest_drain=False" in printed  # the report's own findings
    assert "The worst cluster" in printed
    assert "with a chest drain against" in printed
    files = {p.name for p in (tmp_path / "a").iterdir()}
    assert {
        "report.html",
        "table.csv",
        "report.json",
        "forest.png",
        "roc.png",
        "clusters.png",
        "manifest.json",
    } <= files
    assert any(name.startswith("exemplars_") for name in files)  # the images went in
    # a second run into the same folder is a different report: it needs --force
    out = str(tmp_path / "a")
    assert main(["demo", "--fast", "--out", out, "--seed", "3", "--no-progress"]) == 2
    assert "pass --force" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "a" / "table.csv")
    assert {"chest_drain=True", "chest_drain=False", "airspace_opacity=True"} <= set(
        table["stratum"]
    )
    assert (table["family"] == "kmeans").any()
    # same seed, same numbers
    assert (
        main(["demo", "--fast", "--out", str(tmp_path / "b"), "--seed", "3", "--no-progress"]) == 0
    )
    again = pd.read_csv(tmp_path / "b" / "table.csv")
    pd.testing.assert_frame_equal(table, again)


def test_demo_describes_each_classs_worst_cluster():
    """How many of each class's worst cluster have a drain, against the rest of the class."""
    from types import SimpleNamespace

    import numpy as np

    from hstrat import Stratum
    from hstrat._demo import _cluster_truth

    label = np.r_[np.ones(6, int), np.zeros(4, int)]
    drain = np.r_[[False, False, True, True, True, True], [True, True, False, False]]
    metadata = pd.DataFrame({"label": label, "chest_drain": drain})
    pos = [
        Stratum(np.r_[True, True, np.zeros(8, bool)], "positives", name="kmeans:pos:c0"),
        Stratum(np.r_[False, False, True, np.zeros(7, bool)], "positives", name="kmeans:pos:c2"),
    ]
    neg = Stratum(np.r_[np.zeros(6, bool), True, False, True, False], "negatives",
                  name="kmeans:neg:c1")  # fmt: skip
    table = pd.DataFrame({
        "stratum": [pos[0].name, neg.name, pos[1].name, "drain"],
        "family": ["kmeans", "kmeans", "kmeans", "strata"],
        "population": ["positives", "negatives", "positives", "positives"],
        "auc": [0.7, 0.6, 0.65, 0.1], "defined": [True, True, False, True],
    })  # fmt: skip
    report = SimpleNamespace(table=table, strata=[pos[0], neg, pos[1]])
    said = _cluster_truth(report, metadata).splitlines()
    # the given stratum and the undefined cluster are passed over, whatever their AUC
    assert said == [
        "The worst cluster of positives, cluster 1 of the positives (k-means), holds 2 "
        "positives, 0% with a chest drain against 100% of the other positives.",
        "The worst cluster of negatives, cluster 1 of the negatives (k-means), holds 2 "
        "negatives, 50% with a chest drain against 50% of the other negatives.",
        "(The detector was not told about drains.)",
    ]
    nothing = SimpleNamespace(table=table.iloc[3:], strata=[])
    assert _cluster_truth(nothing, metadata) == "  (the detector found no cluster)"
