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


def audit_argv(tmp, **options):
    """An ``hstrat audit`` command line: the fixture's files, DeLong, no progress bar."""
    base = {
        "--predictions": str(tmp / "preds.csv"),
        "--label-col": "y",
        "--score-col": "p",
        "--out": str(tmp / "out"),
        "--ci": "delong",
    }
    base.update({f"--{k.replace('_', '-')}": v for k, v in options.items()})
    argv = ["audit", "--no-progress"]
    for flag, value in base.items():
        if value is True:
            argv.append(flag)
        elif value is not None:
            argv += [flag, str(value)]
    return argv


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ({"label_col": "label"}, 2, "no column(s) 'label'"),
        ({"predictions": "missing.csv"}, 1, "predictions file not found: missing.csv"),
        ({"strata": "nope.csv"}, 1, "strata file not found"),
        ({"threshold": "sensitivity=high"}, 2, "is not a number"),
        ({"strata_cols": "ward"}, 2, "no column(s) 'ward'"),
        ({"confidence_level": "1.5"}, 1, "confidence_level must be in (0, 1)"),
        ({"score_col": "id"}, 1, "--score-col 'id' of preds.csv must hold a number"),
        ({"by_row_order": True}, 2, "--by-row-order needs --strata"),
    ],
)
def test_audit_errors_are_one_line_naming_the_problem(
    csvs, capsys, args, code, message, monkeypatch
):
    tmp, *_ = csvs
    monkeypatch.chdir(tmp)
    argv = audit_argv(tmp, **args)
    argv[argv.index("--predictions") + 1] = args.get("predictions", "preds.csv")
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert err.startswith("hstrat audit: error: ")
    assert not (tmp / "out").exists()


def drain_aucs(table):
    return table.set_index("stratum")["auc"]


def test_strata_are_joined_on_the_shared_id_column(csvs, capsys):
    tmp, y, s, drain, ids = csvs
    direct = hstrat.evaluate(
        y, s, pd.Series(drain, index=ids, name="drain"), ids=ids, ci="delong", progress=False
    )
    # the strata file lists the cases in reverse order; no --id-col: the shared "id" column
    assert main(audit_argv(tmp, strata=tmp / "strata.csv")) == 0
    got = pd.read_csv(tmp / "out" / "table.csv")
    pd.testing.assert_series_equal(drain_aucs(got), drain_aucs(direct.table), check_exact=False)
    # the same with --id-col named, into a new folder
    assert main(audit_argv(tmp, strata=tmp / "strata.csv", id_col="id", out=tmp / "o2")) == 0
    got = pd.read_csv(tmp / "o2" / "table.csv")
    pd.testing.assert_series_equal(drain_aucs(got), drain_aucs(direct.table), check_exact=False)


@pytest.mark.filterwarnings("default::UserWarning")  # shown, as outside the test suite
def test_ids_the_predictions_lack_are_a_one_line_warning(csvs, capsys):
    tmp, *_ = csvs
    strata = pd.read_csv(tmp / "strata.csv")
    extra = pd.DataFrame({"id": ["img9999"], "drain": ["yes"]})
    pd.concat([strata, extra]).to_csv(tmp / "typo.csv", index=False)
    assert main(audit_argv(tmp, strata=tmp / "typo.csv")) == 0
    err = capsys.readouterr().err
    assert "hstrat audit: warning: strata has labels for 1 ids that are not among" in err
    assert "UserWarning" not in err
    assert ".py:" not in err


def test_a_review_sample_file_labels_some_cases_and_ids_keep_leading_zeros(csvs):
    tmp, y, s, drain, _ids = csvs
    preds = pd.read_csv(tmp / "preds.csv").assign(id=[f"{i:05d}" for i in range(len(y))])
    preds.to_csv(tmp / "preds.csv", index=False)
    sample = preds.sample(300, random_state=0)
    pd.DataFrame({"id": sample["id"], "drain": drain[sample.index]}).to_csv(
        tmp / "review.csv", index=False
    )
    assert main(audit_argv(tmp, strata=tmp / "review.csv")) == 0
    table = pd.read_csv(tmp / "out" / "table.csv").set_index("stratum")
    reviewed = pd.Series(drain[sample.index], index=sample.index, name="drain")
    reviewed = reviewed.reindex(range(len(y)))  # keyed by case position, as the CLI joined
    direct = hstrat.evaluate(y, s, reviewed, ci="delong", progress=False).table
    direct = direct.set_index("stratum")
    unlabelled = len(y) - reviewed.notna().sum()  # the unreviewed, and negatives (no drain label)
    assert (table.loc[["drain=no", "drain=yes"], "n_unlabelled"] == unlabelled).all()
    assert np.allclose(table["auc"], direct["auc"])
    assert np.allclose(table["n_unlabelled"], direct["n_unlabelled"])


def test_strata_without_a_shared_id_need_an_explicit_choice(csvs, capsys):
    tmp, y, s, drain, _ids = csvs
    pd.DataFrame({"drain": drain}).to_csv(tmp / "plain.csv", index=False)
    assert main(audit_argv(tmp, strata=tmp / "plain.csv")) == 2
    err = capsys.readouterr().err
    assert "no id column in common" in err
    assert "--id-col" in err
    assert "--by-row-order" in err
    assert main(audit_argv(tmp, strata=tmp / "plain.csv", by_row_order=True)) == 0
    direct = hstrat.evaluate(y, s, pd.Series(drain, name="drain"), ci="delong", progress=False)
    got = pd.read_csv(tmp / "out" / "table.csv")
    assert np.allclose(got["auc"], direct.table["auc"])
    pd.DataFrame({"drain": ["yes", "no"]}).to_csv(tmp / "short.csv", index=False)
    out = tmp / "o3"
    assert main(audit_argv(tmp, strata=tmp / "short.csv", by_row_order=True, out=out)) == 1
    assert "has 2 rows but predictions have 600" in capsys.readouterr().err


def test_id_like_and_free_text_columns_are_not_made_into_strata(csvs, capsys):
    tmp, _y, _s, drain, ids = csvs
    rng = np.random.default_rng(1)
    strata = pd.DataFrame(
        {
            "id": ids,
            "accession": [f"acc{i}" for i in range(len(ids))],
            "age": rng.integers(20, 90, len(ids)),
            "drain": drain,
        }
    )
    strata.to_csv(tmp / "wide.csv", index=False)
    assert main(audit_argv(tmp, strata=tmp / "wide.csv", id_col="id")) == 2
    err = capsys.readouterr().err
    assert "'accession' (unique per row)" in err
    assert "'age' (" in err
    assert "--strata-cols" in err
    assert not (tmp / "out").exists()
    argv = audit_argv(tmp, strata=tmp / "wide.csv", id_col="id", strata_cols="drain")
    assert main(argv) == 0
    assert pd.read_csv(tmp / "out" / "table.csv")["stratum"].tolist() == [
        "overall",
        "drain=no",
        "drain=yes",
    ]


def test_two_shared_id_columns_are_refused(csvs, capsys):
    tmp, *_ = csvs
    preds = pd.read_csv(tmp / "preds.csv")
    preds.assign(image=preds["id"] + ".png").to_csv(tmp / "preds.csv", index=False)
    strata = pd.read_csv(tmp / "strata.csv")
    strata.assign(image=strata["id"] + ".png").to_csv(tmp / "strata.csv", index=False)
    assert main(audit_argv(tmp, strata=tmp / "strata.csv")) == 2
    assert "share several id-like columns (id, image)" in capsys.readouterr().err


def test_out_is_checked_before_any_work(csvs, capsys):
    tmp, *_ = csvs
    (tmp / "a-file").write_text("x")
    assert main(audit_argv(tmp, out=tmp / "a-file")) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(audit_argv(tmp)) == 0
    capsys.readouterr()
    assert main(audit_argv(tmp)) == 2  # a report is there: replacing it needs --force
    assert "pass --force" in capsys.readouterr().err
    assert main(audit_argv(tmp, force=True)) == 0


def test_unwritable_out_fails_in_one_line(csvs, capsys, monkeypatch):
    import os

    tmp, *_ = csvs
    locked = tmp / "locked"
    locked.mkdir()
    real_access = os.access
    # root may write anywhere, so the refusal is simulated for this one folder
    monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and p != locked)
    assert main(audit_argv(tmp, out=locked / "report")) == 1
    err = capsys.readouterr().err
    assert "cannot write to" in err
    assert "permission denied" in err
    assert err.count("\n") == 1
    assert not (locked / "report").exists()


def test_ctrl_c_exits_130_in_one_line(csvs, capsys, monkeypatch):
    tmp, *_ = csvs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hstrat.cli.evaluate", interrupted)
    assert main(audit_argv(tmp)) == 130
    assert capsys.readouterr().err == "hstrat audit: interrupted; nothing was written\n"
    assert not (tmp / "out").exists()


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


def test_several_findings_from_pairs_or_a_list(csvs, capsys):
    tmp, y, s, drain, ids = csvs
    rng = np.random.default_rng(2)
    preds = pd.read_csv(tmp / "preds.csv")
    preds["effusion"] = (rng.random(len(y)) < 0.3).astype(int)
    preds["effusion_score"] = preds["effusion"] + rng.normal(size=len(y))
    preds = preds.rename(columns={"y": "pneumothorax", "p": "pneumothorax_score"})
    preds.to_csv(tmp / "multi.csv", index=False)
    argv = audit_argv(tmp, predictions=tmp / "multi.csv", label_col=None, score_col=None)
    argv += ["--findings", "pneumothorax,effusion", "--strata", str(tmp / "strata.csv")]
    argv += ["--strata-finding", "pneumothorax"]  # drains are a subclass of pneumothorax
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Audit of 2 findings" in printed
    index = (tmp / "out" / "index.html").read_text()
    assert 'href="pneumothorax/report.html"' in index
    assert 'href="effusion/report.html"' in index
    table = pd.read_csv(tmp / "out" / "pneumothorax" / "table.csv")
    direct = hstrat.evaluate(
        y, s, pd.Series(drain, index=ids, name="drain"), ids=ids, ci="delong", progress=False
    )
    assert np.allclose(table["auc"], direct.table["auc"])
    # the same with explicit pairs
    pairs = ["--label-col", "pneumothorax", "--score-col", "pneumothorax_score"]
    pairs += ["--label-col", "effusion", "--score-col", "effusion_score"]
    argv = audit_argv(
        tmp, predictions=tmp / "multi.csv", label_col=None, score_col=None, out=tmp / "o2"
    )
    assert main([*argv, *pairs]) == 0
    again = pd.read_csv(tmp / "o2" / "effusion" / "table.csv")
    assert again["auc"].equals(pd.read_csv(tmp / "out" / "effusion" / "table.csv")["auc"])
    assert again["stratum"].tolist() == ["overall"]  # no strata were given for effusion
    # an odd number of pairs is a usage error
    assert main([*argv, "--label-col", "effusion", "--force"]) == 2
    assert "one --score-col per --label-col" in capsys.readouterr().err
