import json

import pandas as pd
import pytest

from hstrat.cli import main

SCHEMA = {
    "name": "MURA abnormal",
    "target": "abnormal",
    "variables": {
        "hardware": {"values": ["yes", "no"], "applies_to": "positives"},
        "body_part": {
            "values": ["elbow", "wrist"],
            "rule": {"column": "path", "regex": "XR_([A-Z]+)", "case": "lower"},
        },
    },
}


@pytest.fixture
def schema_file(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    return path


def test_schema_check_prints_variables_and_digest(schema_file, capsys):
    from hstrat import Schema

    assert main(["schema", "check", str(schema_file)]) == 0
    out = capsys.readouterr().out
    assert "schema 'MURA abnormal', target 'abnormal'" in out
    assert f"sha256:{Schema.from_file(schema_file).digest}" in out
    assert "hardware (positives): yes, no" in out
    assert "body_part (all): elbow, wrist; derived from column 'path'" in out


def test_schema_check_lists_problems(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[variables.x]\nvalues = ["a"]\napplies = "all"\n')
    assert main(["schema", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "hstrat schema check: error:" in err
    assert "Did you mean 'applies_to'?" in err


def test_schema_derive_writes_labels(schema_file, tmp_path, capsys):
    meta = tmp_path / "meta.csv"
    pd.DataFrame(
        {
            "image": ["a", "b", "c"],
            "path": [
                "valid/XR_WRIST/p1/s1/i.png",
                "valid/XR_ELBOW/p2/s1/i.png",
                "valid/XR_WRIST/p3/s1/i.png",
            ],
            "abnormal": ["1", "0", "1"],
        }
    ).to_csv(meta, index=False)
    out = tmp_path / "labels.csv"
    code = main(
        [
            "schema",
            "derive",
            str(schema_file),
            "--metadata",
            str(meta),
            "--id-col",
            "image",
            "--label-column",  # the old spelling still works, with a notice
            "abnormal",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "Derived body_part for 3 cases" in printed.out
    assert "--label-column is deprecated; use --label-col" in printed.err
    assert out.read_text().splitlines() == ["id,body_part", "a,wrist", "b,elbow", "c,wrist"]
    assert (
        main(["schema", "derive", str(schema_file), "--metadata", str(meta), "--out", str(out)])
        == 1
    )
    assert "--id-col 'id' is not a column" in capsys.readouterr().err


def test_label_check_reports_counts_and_problems(schema_file, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "id,hardware,body_part,annotator\na,yes,wrist,ann\nb,,elbow,ann\nc,no,,ann\n"
    )
    items = tmp_path / "items.csv"
    items.write_text("id,path,y_true\na,a.png,1\nb,b.png,0\nc,c.png,1\n")
    assert (
        main(["label", "check", str(labels), "--schema", str(schema_file), "--items", str(items)])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 cases; every value fits" in out
    assert "hardware (positives): yes 1, no 1, not labelled 1" in out
    labels.write_text("id,hardware,body_part,annotator\na,yes,Wrist,ann\nb,no,elbow,ann\n")
    assert (
        main(["label", "check", str(labels), "--schema", str(schema_file), "--items", str(items)])
        == 1
    )
    err = capsys.readouterr().err
    assert "2 problems found" in err
    assert "Did you mean 'wrist'?" in err
    assert "not positive (id 'b')" in err
    check = ["label", "check", str(labels), "--schema", str(schema_file), "--items", str(items)]
    labels.write_text("id,hardware,body_part,annotator\na,yes,wrist,ann\nb,,elbow,ann\n")
    items.write_text("id,path,y_true\na,a.png,TRUE\nb,b.png,no\n")
    assert main(check) == 0
    items.write_text("id,path,y_true\na,a.png,1\nb,b.png,maybe\n")
    assert main(check) == 1
    assert "--items y_true must be 0 or 1 on every row; got ['maybe']" in capsys.readouterr().err


def test_label_agreement_writes_disagreements_and_merge(schema_file, tmp_path, capsys):
    both = tmp_path / "labels.csv"
    both.write_text(
        "id,hardware,body_part,annotator\n"
        "a,yes,wrist,ann\nb,no,elbow,ann\nc,yes,wrist,ann\nd,no,elbow,ann\n"
        "a,yes,wrist,bob\nb,yes,elbow,bob\nc,yes,wrist,bob\nd,no,wrist,bob\n"
    )
    conflicts, merged = tmp_path / "conflicts.csv", tmp_path / "merged.csv"
    code = main(
        [
            "label",
            "agreement",
            str(both),
            str(both),
            "--schema",
            str(schema_file),
            "--annotator-a",
            "ann",
            "--annotator-b",
            "bob",
            "--disagreements",
            str(conflicts),
            "--merge",
            str(merged),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "hardware" in out
    assert "kappa" in out
    assert pd.read_csv(conflicts)["id"].tolist() == ["b", "d"]
    table = pd.read_csv(merged, dtype=str, keep_default_na=False).set_index("id")
    assert table.loc["b", "hardware"] == ""
    assert table.loc["a", "hardware"] == "yes"
    assert main(["label", "agreement", str(both), str(both), "--schema", str(schema_file)]) == 1
    assert "2 annotators" in capsys.readouterr().err


def test_label_requires_an_action(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["label"])
    assert excinfo.value.code == 2
