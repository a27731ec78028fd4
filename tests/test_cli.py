import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat.cli import main


@pytest.fixture
def csvs(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    y = rng.random(n) < 0.35
    drain = np.where(y, np.where(rng.random(n) < 0.7, "yes", "no"), None)
    s = rng.normal(size=n) + 0.6 * y + 1.5 * (drain == "yes")
    ids = [f"img{i:04d}" for i in range(n)]
    preds = pd.DataFrame({"id": ids, "y": y.astype(int), "p": s, "patient": np.arange(n) // 2})
    strata = pd.DataFrame({"id": ids, "drain": drain}).iloc[::-1]
    preds.to_csv(tmp_path / "preds.csv", index=False)
    strata.to_csv(tmp_path / "strata.csv", index=False)
    return tmp_path, y, s, drain, ids


def test_audit_end_to_end(csvs, capsys):
    tmp, y, s, drain, ids = csvs
    out = tmp / "out"
    code = main(
        [
            "audit",
            "--predictions",
            str(tmp / "preds.csv"),
            "--label-col",
            "y",
            "--score-col",
            "p",
            "--id-col",
            "id",
            "--strata",
            str(tmp / "strata.csv"),
            "--groups-col",
            "patient",
            "--out",
            str(out),
            "--n-resamples",
            "200",
            "--seed",
            "3",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Worst strata" in printed
    assert "drain=no" in printed
    table = pd.read_csv(out / "table.csv")
    direct = hstrat.evaluate(
        y,
        s,
        pd.Series(drain, index=pd.Index(ids, name="id"), name="drain"),
        ids=pd.Index(ids, name="id"),
        groups=np.arange(len(y)) // 2,
        n_resamples=200,
        random_state=3,
        progress=False,
    )
    assert np.allclose(table["auc_low"], direct.table["auc_low"], equal_nan=True)
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "hstrat-audit-report"
    assert (out / "report.html").stat().st_size > 1000


def test_audit_strata_by_order_and_from_prediction_columns(csvs):
    tmp, *_ = csvs
    preds = pd.read_csv(tmp / "preds.csv")
    preds["site"] = np.where(np.arange(len(preds)) % 2, "a", "b")
    preds.to_csv(tmp / "preds2.csv", index=False)
    code = main(
        [
            "audit",
            "--predictions",
            str(tmp / "preds2.csv"),
            "--label-col",
            "y",
            "--score-col",
            "p",
            "--strata-cols",
            "site",
            "--out",
            str(tmp / "o2"),
            "--ci",
            "delong",
            "--no-progress",
        ]
    )
    assert code == 0
    assert pd.read_csv(tmp / "o2" / "table.csv")["stratum"].tolist() == [
        "overall",
        "site=a",
        "site=b",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label-col", "label"], "no column(s) 'label'"),
        (["--predictions", "missing.csv"], "predictions file not found: missing.csv"),
        (["--strata", "nope.csv"], "strata file not found"),
        (["--threshold", "sensitivity=high"], "is not a number"),
        (["--strata-cols", "ward"], "no column(s) 'ward'"),
        (["--confidence-level", "1.5"], "confidence_level must be in (0, 1)"),
    ],
)
def test_audit_errors_name_the_problem(csvs, capsys, args, message, monkeypatch):
    tmp, *_ = csvs
    monkeypatch.chdir(tmp)
    base = {"--predictions": "preds.csv", "--label-col": "y", "--score-col": "p", "--out": "out"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["audit", "--ci", "delong", "--no-progress"] + [x for kv in base.items() for x in kv]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_strata_row_mismatch_without_ids(csvs, capsys):
    tmp, *_ = csvs
    pd.DataFrame({"site": ["a", "b"]}).to_csv(tmp / "short.csv", index=False)
    argv = [
        "audit",
        "--predictions",
        str(tmp / "preds.csv"),
        "--label-col",
        "y",
        "--score-col",
        "p",
        "--strata",
        str(tmp / "short.csv"),
        "--out",
        str(tmp / "o"),
    ]
    assert main(argv) == 1
    assert "has 2 rows but predictions have 600" in capsys.readouterr().err


def test_version_and_help():
    out = subprocess.run(
        [sys.executable, "-m", "hstrat", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"hstrat {hstrat.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "hstrat", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "audit" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "hstrat", "audit"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--predictions" in bad.stderr
