import pandas as pd
import pytest

from hstrat.cli import main


# The fast mode's test set is tiny, so some clusters are below the size at which an
# interval is reliable; that warning is expected here and only here.
@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_demo_fast_mode_end_to_end_and_deterministic(tmp_path, capsys):
    assert (
        main(["demo", "--fast", "--out", str(tmp_path / "a"), "--seed", "3", "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert "pneumothorax without a drain" in printed
    assert "detector's worst cluster" in printed
    files = {p.name for p in (tmp_path / "a").iterdir()}
    assert {
        "report.html",
        "table.csv",
        "report.json",
        "forest.png",
        "roc.png",
        "clusters.png",
    } <= files
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
