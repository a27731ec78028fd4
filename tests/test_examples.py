"""Every script in examples/ runs end to end in its --smoke mode and writes what it says.

The smoke runs train for one step on tiny fake trees, so their numbers mean nothing; what
is checked is the path: files written, strata present, the paper's rows filled in.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

import hstrat
from hstrat.datasets import mura_schema

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
    # As under `python examples/<name>.py`, the script's folder is importable: the paper
    # examples import their shared recipe (examples/paper_recipe.py) from it.
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
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


@small_strata
@pytest.mark.usefixtures("empty_torch_cache")
def test_cxr14_smoke_then_rerun_from_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("cxr14_pneumothorax")
    out, checkpoint = tmp_path / "cxr14", tmp_path / "model.pt"
    argv = ["--smoke", "--out", str(out), "--checkpoint", str(checkpoint)]
    with pytest.warns(UserWarning, match=RANDOM_INIT):
        report = example.main(argv)
    assert (REPORT_FILES | {"paper_comparison.csv"}) <= {p.name for p in out.iterdir()}
    assert checkpoint.is_file()
    assert not list(tmp_path.glob("*.partial"))
    assert {
        "overall",
        "chest_drain=True",
        "chest_drain=False",
        "airspace_opacity=True",
        "airspace_opacity=False",
    } <= strata_of(report)
    families = set(report.table["family"])
    assert {"kmeans_paper", "kmeans_rank"} <= families
    assert report.provenance["groups"] == "array"  # bootstrap by patient

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
    table = report.table.set_index("stratum")
    for quantity, stratum in [
        ("AUC overall", "overall"),
        ("AUC with chest drain", "chest_drain=True"),
        ("AUC without chest drain", "chest_drain=False"),
    ]:
        assert rows.loc[quantity, "hstrat"] == pytest.approx(table.loc[stratum, "auc"])
    assert rows["hstrat"].iloc[:6].notna().all()
    printed = capsys.readouterr().out
    assert "The paper (Oakden-Rayner et al. 2020) and this run" in printed

    # The checkpoint is loaded, not retrained (so no weights warning), and the audit,
    # through the cache this time, gives the same table.
    cache = tmp_path / "cache"
    again = example.main([*argv, "--out", str(tmp_path / "again"), "--cache", str(cache)])
    assert "model: loaded" in capsys.readouterr().out
    assert any(cache.iterdir())
    pd.testing.assert_frame_equal(again.table, report.table)


@small_strata
@one_class_strata
@pytest.mark.usefixtures("empty_torch_cache")
def test_mura_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mura"
    with pytest.warns(UserWarning, match=RANDOM_INIT):
        report = load_example("mura_abnormality").main(["--smoke", "--out", str(out)])
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
    assert "The paper (Oakden-Rayner et al. 2020)" in capsys.readouterr().out


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
