import json
import re

import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat import AuditReport


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.random(n) < 0.35
    drain = np.where(y, np.where(rng.random(n) < 0.7, "yes", "no"), None)
    s = rng.normal(size=n) + 0.6 * y + 1.5 * (drain == "yes")
    labels = pd.DataFrame(
        {
            "drain": drain,
            "site": rng.choice(["<script>alert('x')</script>", "A & B", "C"], n),
            "grade": rng.choice([1, 2], n),
        }
    )
    return hstrat.evaluate(y, s, labels, n_resamples=200, random_state=0, progress=False)


def test_json_round_trip_is_lossless(report, tmp_path):
    path = tmp_path / "r.json"
    report.to_json(path)
    again = AuditReport.from_json(path)
    pd.testing.assert_frame_equal(report.table, again.table)
    assert again.threshold == report.threshold
    assert again.provenance == json.loads(json.dumps(report.provenance))
    assert np.array_equal(again.predictions.y_score, report.predictions.y_score)
    assert [s.name for s in again.strata] == [s.name for s in report.strata]
    assert all(a == b for a, b in zip(again.strata, report.strata, strict=True))
    assert again.table["level"].tolist() == report.table["level"].tolist()
    # from the text too, and without predictions
    slim = AuditReport.from_json(report.to_json(include_predictions=False))
    pd.testing.assert_frame_equal(report.table, slim.table)
    assert slim.predictions is None
    with pytest.raises(ValueError, match="no predictions"):
        slim.plot_roc()


def test_json_is_strict_json(report):
    text = report.to_json()
    assert "NaN" not in text
    json.loads(text)


def test_from_json_refuses_other_documents():
    with pytest.raises(ValueError, match="not an hstrat audit report"):
        AuditReport.from_json('{"a": 1}')


def test_html_is_self_contained_and_escaped(report, tmp_path):
    page = report.to_html(tmp_path / "r.html")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
    assert "A &amp; B" in page
    assert "<script" not in page.lower()
    external = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', page)
    assert external == []
    assert page.count("data:image/png;base64,") == 2
    assert (tmp_path / "r.html").read_text() == page


def test_csv_and_markdown(report, tmp_path):
    text = report.to_csv(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["stratum"].tolist() == report.table["stratum"].tolist()
    assert text.splitlines()[0].startswith("stratum,family")
    md = report.to_markdown()
    assert md.startswith("# hstrat audit")
    assert "| stratum |" in md


def test_summary_names_the_worst_stratum(report):
    text = str(report)
    worst = report.worst(1)["stratum"].iloc[0]
    assert worst == "drain=no"
    assert "drain=no" in text.split("Worst strata")[1]
    assert "Significantly worse than the complement" in text
    assert "Overall AUC" in text
    assert repr(report).startswith("AuditReport(n=600")


def test_save_writes_all_files_and_no_temporaries(report, tmp_path):
    paths = report.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["report.html", "table.csv", "report.json", "forest.png", "roc.png"]
    )
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_figures(report):
    fig = report.plot_forest()
    ax = fig.axes[0]
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert max(ticks, key=ticks.get) == "overall"  # on top
    assert min(ticks, key=ticks.get) == report.table["stratum"].iloc[-1]
    roc = report.plot_roc(["drain=no", "drain=yes"])
    legend = [t.get_text() for t in roc.axes[0].get_legend().get_texts()]
    assert legend == ["overall", "drain=no", "drain=yes"]
    with pytest.raises(ValueError, match="not in this report"):
        report.plot_roc(["nope"])
