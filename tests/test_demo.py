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
