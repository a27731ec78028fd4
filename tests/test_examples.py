"""Every script in examples/ runs end to end in its --smoke mode and writes what it says.

The smoke runs train for one step on tiny fake trees, so their numbers mean nothing; what
is checked is the path: files written, strata present, the paper's rows filled in.
"""

from __future__ import annotations

import argparse
import doctest
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import torch

import hstrat
from hstrat.datasets import CXR14_FINDINGS, mura_schema

# Every example trained and audited end to end (--smoke): minutes, run in CI.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REPORT_FILES = {"report.html", "table.csv", "report.json", "forest.png", "roc.png"}

# The smoke data sets are tiny: strata below the size at which an interval is reliable
# (and, on MURA, a body part with one class) are expected there and only there.
small_strata = pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
one_class_strata = pytest.mark.filterwarnings("ignore::hstrat.exceptions.UndefinedMetricWarning")
# With no ImageNet weights in the torch cache (the tests point it at an empty folder),
# the examples' DenseNets start from random weights and densenet() says so loudly: the
# tests expect that warning.
RANDOM_INIT = "RANDOM weights"


@pytest.fixture
def empty_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def load_example(name: str) -> ModuleType:
    # As under `python examples/<name>.py`, the script's folder is importable (conftest.py
    # puts it on the path): the paper examples import their shared recipe from it.
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"hstrat_example_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def strata_of(report: hstrat.AuditReport) -> set[str]:
    return set(report.table["stratum"])


@small_strata
def test_quickstart_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "quickstart"
    report = load_example("quickstart").main(["--smoke", "--out", str(out)])
    assert isinstance(report, hstrat.AuditReport)
    assert {p.name for p in out.iterdir()} >= REPORT_FILES
    assert {
        "overall",
        "chest_drain=True",
        "chest_drain=False",
        "airspace_opacity=True",
        "airspace_opacity=False",
    } <= strata_of(report)
    assert (report.table["family"] == "kmeans").any()
    table = report.table.set_index("stratum")
    assert table.loc["chest_drain=True", "population"] == "positives"
    assert "hstrat audit of 300 cases" in capsys.readouterr().out
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "table.csv")[["stratum", "n_pos", "n_neg"]],
        report.table[["stratum", "n_pos", "n_neg"]],
    )


@pytest.mark.slow  # 14 findings, each with its figures and detectors, twice: about 2 minutes
@small_strata
@one_class_strata
@pytest.mark.usefixtures("empty_torch_cache")
def test_cxr14_smoke_audits_every_finding_then_reruns_from_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("cxr14_pneumothorax")
    out, checkpoint = tmp_path / "cxr14", tmp_path / "model.pt"
    argv = ["--smoke", "--out", str(out), "--checkpoint", str(checkpoint)]
    with pytest.warns(UserWarning, match=RANDOM_INIT):
        reports = example.main(argv)
    # one model, 14 outputs, every finding audited: an index and a folder per finding
    assert isinstance(reports, hstrat.AuditReports)
    assert list(reports) == list(CXR14_FINDINGS)
    assert list(reports.summary["finding"]) == list(CXR14_FINDINGS)
    assert (reports.summary["n_pos"] > 0).all()
    written = {p.name for p in out.iterdir()}
    assert {"index.html", "paper_comparison.csv", "pneumothorax", "effusion", "hernia"} <= written
    for folder in reports.folders().values():
        assert {p.name for p in (out / folder).iterdir()} >= REPORT_FILES
    assert checkpoint.is_file()
    assert not list(tmp_path.glob("*.partial"))
    printed = capsys.readouterr().out
    assert "Audit of 14 findings" in printed
    assert "The paper (Oakden-Rayner et al. 2020) and this run" in printed

    # the schema's strata (drain, opacity) belong to pneumothorax only; k-means to all
    pneumothorax = reports["Pneumothorax"]
    assert {
        "overall",
        "chest_drain=True",
        "chest_drain=False",
        "airspace_opacity=True",
        "airspace_opacity=False",
    } <= strata_of(pneumothorax)
    assert pneumothorax.provenance["target"] == "Pneumothorax"
    assert pneumothorax.provenance["groups"] == "array"  # bootstrap by patient
    for finding, report in reports.items():
        assert {"kmeans_paper", "kmeans_rank"} <= set(report.table["family"]), finding
        if finding != "Pneumothorax":
            assert not report.table["stratum"].str.startswith(("chest_drain", "airspace")).any()

    # the paper comparison is the pneumothorax report's
    comparison = pd.read_csv(out / "paper_comparison.csv")
    assert list(comparison.columns) == [
        "quantity",
        "definition",
        "paper",
        "hstrat",
        "ci_low",
        "ci_high",
        "note",
    ]
    rows = comparison.set_index("quantity")
    assert rows.loc["AUC overall", "paper"] == 0.87
    assert rows.loc["AUC without chest drain", "paper"] == 0.77
    table = pneumothorax.table.set_index("stratum")
    for quantity, stratum in [
        ("AUC overall", "overall"),
        ("AUC with chest drain", "chest_drain=True"),
        ("AUC without chest drain", "chest_drain=False"),
    ]:
        assert rows.loc[quantity, "hstrat"] == pytest.approx(table.loc[stratum, "auc"])
    assert rows["hstrat"].iloc[:6].notna().all()

    # The checkpoint is loaded, not retrained (so no weights warning), and the audit,
    # through the cache this time, gives the same tables.
    cache = tmp_path / "cache"
    again = example.main([*argv, "--out", str(tmp_path / "again"), "--cache", str(cache)])
    assert "model: loaded" in capsys.readouterr().out
    assert any(cache.iterdir())
    for finding, report in reports.items():
        pd.testing.assert_frame_equal(again[finding].table, report.table)


def test_a_checkpoint_with_other_outputs_is_refused(tmp_path: Path) -> None:
    recipe = load_example("paper_recipe")
    checkpoint = tmp_path / "one-logit.pt"
    torch.save({"architecture": "densenet121", "image_size": 32, "state_dict": {}}, checkpoint)
    args = argparse.Namespace(checkpoint=str(checkpoint), image_size=32, device="cpu")
    with pytest.raises(SystemExit, match="1 output"):
        recipe.load_checkpoint(args, num_outputs=14)


@small_strata
@one_class_strata
@pytest.mark.usefixtures("empty_torch_cache")
def test_mura_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mura"
    example = load_example("mura_abnormality")
    with pytest.warns(UserWarning, match=RANDOM_INIT):
        report = example.main(["--smoke", "--out", str(out)])
    assert (REPORT_FILES | {"paper_comparison.csv", "max"}) <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "max").iterdir()} >= REPORT_FILES
    strata = strata_of(report)
    assert {"overall", "hardware=True", "degenerative_joint_disease=True"} <= strata
    assert any(s.startswith("body_part=") for s in strata)
    table = report.table.set_index("stratum")
    assert table.loc["hardware=True", "population"] == "positives"
    assert table.loc["body_part=WRIST", "population"] == "all"
    # study level: one row per valid study, patients resampled together
    assert report.provenance["n_samples"] == report.predictions.y_true.size
    assert report.provenance["groups"] == "patient"
    assert all("/study" in str(i) for i in report.predictions.ids)
    assert report.provenance["study_score"] == "mean"

    rows = pd.read_csv(out / "paper_comparison.csv").set_index("quantity")
    assert rows.loc["AUC overall", "paper"] == 0.91
    assert rows.loc["AUC hardware", "paper"] == 0.98
    assert rows.loc["AUC degenerative joint disease", "paper"] == 0.76
    assert rows.loc["AUC overall", "hstrat"] == pytest.approx(table.loc["overall", "auc"])
    assert rows.loc["prevalence hardware", "hstrat"] >= 0
    printed = capsys.readouterr().out
    assert "The paper (Oakden-Rayner et al. 2020)" in printed
    # abnormality per body part: a stratum of every study for each, printed as a table
    parts = example.body_parts(report)
    assert set(parts["body_part"]) == {
        s.removeprefix("body_part=") for s in strata if s.startswith("body_part=")
    }
    assert "Abnormality by body part" in printed


def test_audit_precomputed_smoke(tmp_path: Path) -> None:
    out = tmp_path / "precomputed"
    report = load_example("audit_precomputed").main(["--smoke", "--out", str(out)])
    assert {p.name for p in out.iterdir()} >= REPORT_FILES
    assert {"chest_drain=yes", "chest_drain=no"} <= strata_of(report)


def test_examples_need_data_or_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("cxr14_pneumothorax", "mura_abnormality"):
        with pytest.raises(SystemExit):
            load_example(name).main([])
        assert "--root is required" in capsys.readouterr().err


def test_mura_strata_without_labels_are_body_parts() -> None:
    example = load_example("mura_abnormality")
    studies = pd.DataFrame(
        {
            "study": ["valid/XR_WRIST/patient11185/study1_positive", "valid/XR_HAND/p2/s1"],
            "body_part": ["WRIST", "HAND"],
            "label": [1, 0],
        }
    )
    schema = hstrat.Schema.from_dict(mura_schema())
    strata = example.study_strata(schema, studies, None)
    assert [(s.name, s.population) for s in strata] == [
        ("body_part=HAND", "all"),
        ("body_part=WRIST", "all"),
    ]


@pytest.mark.parametrize("name", ["fake_datasets", "densenet_training"])
def test_the_examples_helpers_do_what_their_docstrings_show(name: str) -> None:
    """The helpers the scripts and tests share are not in the package; their doctests run here."""
    module = load_example(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
