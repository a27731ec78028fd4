import base64
import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_report import synthetic_report

import hstrat
from hstrat import AuditReport
from hstrat._audit._report import Figure
from hstrat.plot import plot_image_grid, plot_roc


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


@pytest.fixture(scope="module")
def demo_like():
    return synthetic_report()


@pytest.fixture(scope="module")
def demo_folder(demo_like, tmp_path_factory):
    """The demo-like report saved with its images (drawn once for the tests that read it)."""
    report, images = demo_like
    out = tmp_path_factory.mktemp("demo") / "out"
    return out, report.save(out, images=images)


def small_report(name="half", seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    s = rng.normal(size=n) + y
    return hstrat.evaluate(y, s, {name: np.arange(n) < n // 2}, ci="delong", progress=False)


@pytest.fixture
def quick_figures(monkeypatch):
    """Skip drawing: these tests are about the folder, not the figures."""
    monkeypatch.setattr(
        AuditReport, "_figures", lambda self, images: {"forest.png": Figure(b"png", "forest")}
    )


# -- JSON ---------------------------------------------------------------------------------
def test_json_round_trip_is_lossless(report, tmp_path):
    path = tmp_path / "r.json"
    report.to_json(path)
    again = AuditReport.from_json(path)
    pd.testing.assert_frame_equal(report.table, again.table)
    assert again.threshold == report.threshold
    assert again.provenance == report.provenance
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
    assert "Infinity" not in text
    json.loads(text)


def test_from_json_refuses_other_documents():
    with pytest.raises(ValueError, match="not an hstrat audit report"):
        AuditReport.from_json('{"a": 1}')


N = 300
ALTERNATE = np.arange(N) % 2 == 0


def _two(a, b):
    return pd.Series([a if even else b for even in ALTERNATE], dtype=object)


LEVELS = {
    "interval": lambda: pd.cut(pd.Series(np.arange(N) % 90 + 5), [0, 40, 60, 100]),
    "date": lambda: _two(dt.date(2020, 1, 1), dt.date(2021, 2, 3)),
    "datetime": lambda: _two(dt.datetime(2020, 1, 1, 12), dt.datetime(2021, 2, 3)),
    "decimal": lambda: _two(Decimal("1.50"), Decimal("2.25")),
    "bytes": lambda: _two(b"a", b"\x00b"),
    "period": lambda: pd.Series(pd.period_range("2020-01", periods=2, freq="M").take(ALTERNATE)),
    "timestamp": lambda: pd.Series(
        pd.to_datetime(["2020-01-01", "2021-06-01"]).tz_localize("Europe/Paris").take(ALTERNATE)
    ),
    "timedelta": lambda: _two(pd.Timedelta("1h"), pd.Timedelta("2D")),
    "numpy": lambda: _two(np.int64(1), np.float32(2.5)),
    "categorical": lambda: pd.Series(
        pd.Categorical(np.where(ALTERNATE, "lo", "hi"), categories=["lo", "hi"], ordered=True)
    ),
    "tuple": lambda: _two((1, "a"), (2, "b")),
}


@pytest.mark.parametrize("kind", LEVELS)
def test_every_level_type_saves_and_round_trips(kind, tmp_path, quick_figures):
    rng = np.random.default_rng(1)
    y = rng.random(N) < 0.4
    s = rng.normal(size=N) + y
    report = hstrat.evaluate(y, s, LEVELS[kind]().rename(kind), ci="delong", progress=False)
    paths = report.save(tmp_path / "out")
    again = AuditReport.from_json(paths["json"])
    pd.testing.assert_frame_equal(report.table, again.table)
    for before, after in zip(report.strata, again.strata, strict=True):
        assert type(after.level) is type(before.level)
        assert after.level == before.level
        assert after == before


def test_a_value_json_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    report = small_report()
    report.provenance["odd"] = {1, 2}  # a set
    with pytest.raises(TypeError, match=r"cannot save a value of type builtins\.set"):
        report.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- what it says -------------------------------------------------------------------------
def test_summary_and_html_findings_are_the_same_sentences(demo_like, demo_folder):
    report, _ = demo_like
    found = report.findings()
    assert [i.stratum for i in found.items] == ["chest_drain=False", "kmeans:pos:c0"]
    drain = report.table.set_index("stratum").loc["chest_drain=False"]
    first = found.items[0]
    assert first.title == f"chest_drain=False ({int(drain['n_pos'])} positives)"
    assert first.text.startswith(
        f"AUC {drain['auc']:.3f} (95% CI {drain['auc_low']:.3f} to {drain['auc_high']:.3f}) "
        f"against {drain['reference_auc']:.3f} in the other positives; sensitivity at the "
        f"operating point {drain['sensitivity']:.2f} against "
    )
    assert f"Holm-adjusted p = {drain['p_adjusted']:.2g}" in first.text
    cluster = found.items[1]
    assert re.fullmatch(r"cluster 1 of the positives \(k-means, \d+ cases\)", cluster.title)
    text = str(report)
    page = demo_folder[1]["html"].read_text()
    findings_html = page.split('<section id="findings"')[1].split("</section>")[0]
    for item in found.items:
        assert f"- {item.title}: {item.text}" in text
        assert f"<strong>{html.escape(item.title)}</strong>: {html.escape(item.text)}" in (
            findings_html
        )
    for line in [*found.headline[1:], found.lead, *found.notes]:
        assert line in text
        assert html.escape(line) in page
    assert "Worst strata by AUC" in text


def test_no_finding_says_so(tmp_path):
    report = small_report()
    assert "No stratum is significantly worse than its reference" in str(report)
    assert 'id="findings" class="none"' in report.to_html()


def test_html_is_self_contained_and_escaped(report, tmp_path):
    page = report.to_html(tmp_path / "r.html")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
    assert "A &amp; B" in page
    assert "<script" not in page.lower()
    external = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', page)
    assert external == []
    assert page.count("data:image/png;base64,") == 2  # forest, ROC
    assert (tmp_path / "r.html").read_text() == page
    csv_link = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', page)
    assert csv_link is not None
    for section in ("how-to-read", "forest", "roc", "details", "provenance"):
        assert f'id="{section}"' in page
    for heading in ("Discrimination", "At the operating point", "Tests against the reference"):
        assert f"<h3>{heading}</h3>" in page


def test_html_shows_clusters_with_their_cases(demo_like, demo_folder):
    report, images = demo_like
    page = demo_folder[1]["html"].read_text()
    # forest, ROC, the cluster map, the cases of the cluster in the findings
    assert page.count("data:image/png;base64,") == 4
    findings_html = page.split('<section id="findings"')[1].split("</section>")[0]
    assert findings_html.count('<figure class="exemplar">') == 1
    assert "cluster 1 of the positives (k-means)" in page
    assert "kmeans:pos:c0" not in page.split('id="details"')[0]  # readable names up front
    with pytest.raises(ValueError, match="one image per evaluated case"):
        report.to_html(images=images[:10])


def test_csv_is_safe_for_spreadsheets(tmp_path):
    report = small_report(name='=HYPERLINK("http://x","y")')
    text = report.to_csv(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["stratum"].tolist() == ["overall", '\'=HYPERLINK("http://x","y")']
    assert back["auc_diff"].iloc[1] == pytest.approx(report.table["auc_diff"].iloc[1], abs=1e-12)
    assert text.splitlines()[0].startswith("stratum,family")
    assert "'-" not in text  # negative numbers stay numbers
    md = report.to_markdown()
    assert md.startswith("# hstrat audit")
    assert "| stratum |" in md


# -- the folder ---------------------------------------------------------------------------
def _manifest_is_whole(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {p.name for p in folder.iterdir()}
    assert names == {*manifest["files"], "manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    return manifest


def test_save_writes_one_whole_report(demo_folder):
    out, paths = demo_folder
    assert set(paths) == {
        "html",
        "json",
        "csv",
        "forest",
        "roc",
        "clusters",
        "exemplars_kmeans-pos-c0",
        "manifest",
    }
    assert all(p.stat().st_size > 0 for p in paths.values())
    _manifest_is_whole(out)
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no temporaries beside it
    # the PNG files are the figures embedded in the page: each was drawn once
    page = paths["html"].read_text()
    for kind in ("forest", "roc", "clusters", "exemplars_kmeans-pos-c0"):
        assert base64.b64encode(paths[kind].read_bytes()).decode() in page


def test_save_refuses_to_replace_a_different_report(tmp_path, quick_figures):
    out = tmp_path / "out"
    first = small_report(seed=0)
    first.save(out)
    first.save(out)  # the same report again: fine
    second = small_report(seed=1)
    with pytest.raises(FileExistsError, match=r"a different hstrat report.*overwrite=True"):
        second.save(out)
    assert json.loads((out / "report.json").read_text()) == json.loads(first.to_json())
    second.save(out, overwrite=True)
    assert json.loads((out / "report.json").read_text()) == json.loads(second.to_json())


def test_nothing_of_the_old_report_survives(demo_folder, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_folder[0], out)
    assert (out / "clusters.png").exists()
    small_report().save(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "forest.png",
        "manifest.json",
        "report.html",
        "report.json",
        "roc.png",
        "table.csv",
    ]


def test_other_files_need_overwrite_and_are_kept(demo_folder, tmp_path, quick_figures):
    out = tmp_path / "out"
    shutil.copytree(demo_folder[0], out)
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    (out / "data" / "scores.csv").write_text("id,p")
    with pytest.raises(FileExistsError, match=r"not part of an hstrat report \(data, notes.txt\)"):
        small_report().save(out)
    assert (out / "clusters.png").exists()
    small_report().save(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "data",
        "forest.png",
        "manifest.json",
        "notes.txt",
        "report.html",
        "report.json",
        "table.csv",
    ]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "data" / "scores.csv").read_text() == "id,p"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"forest.png", "report.html", "report.json", "table.csv"}
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        small_report().save(tmp_path / "file")


def test_a_folder_without_a_manifest_needs_overwrite(tmp_path, quick_figures):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.html", "table.csv", "report.json", "forest.png", "worst_cluster.png"):
        (out / name).write_text("old")
    with pytest.raises(FileExistsError, match="not part of an hstrat report"):
        small_report().save(out)
    small_report().save(out, overwrite=True)
    assert (out / "worst_cluster.png").read_text() == "old"  # not listed as the report's: kept
    assert json.loads((out / "report.json").read_text())["format"] == "hstrat-audit-report"


def test_save_into_an_empty_folder_keeps_its_mode(tmp_path, quick_figures):
    out = tmp_path / "out"
    out.mkdir(mode=0o750)
    out.chmod(0o750)
    small_report().save(out)
    assert out.stat().st_mode & 0o777 == 0o750
    _manifest_is_whole(out)


KILLED_SAVER = textwrap.dedent(
    """
    import sys, time, shutil, warnings
    import numpy as np
    import hstrat
    from hstrat import _io
    from hstrat._audit._report import AuditReport, Figure

    # slow the writes and the clean-up down, so that kills land inside them
    write, rmtree = _io._write, shutil.rmtree
    _io._write = lambda *a, **k: (write(*a, **k), time.sleep(0.03))[0]
    shutil.rmtree = lambda *a, **k: (time.sleep(0.05), rmtree(*a, **k))[1]
    AuditReport._figures = lambda self, images: {
        name: Figure(bytes(50_000), "forest") for name in ("forest.png", "a.png", "b.png")
    }
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    warnings.simplefilter("ignore")
    reports = [
        hstrat.evaluate(y, rng.normal(size=200) + y, {"half": np.arange(200) < k},
                        ci="delong", progress=False)
        for k in (50, 150)
    ]
    reports[0].save(sys.argv[1], overwrite=True)
    print("ready", flush=True)
    i = 1
    while True:
        reports[i % 2].save(sys.argv[1], overwrite=True)
        i += 1
    """
)


@pytest.mark.slow
def test_kill_9_mid_save_leaves_the_old_report_or_the_new_one_whole(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "saver.py"
    script.write_text(KILLED_SAVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    mid_save = 0
    rng = np.random.default_rng(0)
    for delay in rng.uniform(0.05, 0.6, size=6):
        with subprocess.Popen(
            [sys.executable, str(script), str(out)], stdout=subprocess.PIPE, env=env, text=True
        ) as child:
            try:
                assert child.stdout.readline().strip() == "ready"
                time.sleep(delay)
            finally:
                child.kill()
        mid_save += any(tmp_path.glob(".out.*.hstrat-partial"))
        manifest = _manifest_is_whole(out)
        assert manifest["files"].keys() == {
            "report.html",
            "report.json",
            "table.csv",
            "forest.png",
            "a.png",
            "b.png",
        }
    assert mid_save >= 3  # most kills landed inside a save
    small_report().save(out, overwrite=True)  # the next save clears what the kills left
    assert [p.name for p in tmp_path.iterdir() if p.name != "saver.py"] == ["out"]


def test_files_respect_the_umask_and_temporaries_never_follow_links(tmp_path, monkeypatch):
    from hstrat import _io

    old = os.umask(0o027)
    try:
        _io.atomic_write_text(tmp_path / "a.txt", "x")
        folder = _io.replace_folder(tmp_path / "f", {"b.txt": b"y"})
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert folder.stat().st_mode & 0o777 == 0o750
    assert (folder / "b.txt").stat().st_mode & 0o777 == 0o640
    (tmp_path / "a.txt").chmod(0o600)  # a replaced file keeps its mode
    _io.atomic_write_text(tmp_path / "a.txt", "z")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o600
    # a link planted at the temporary name is neither followed nor replaced
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / ".c.txt.aaaa.tmp").symlink_to(victim)
    tokens = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(_io.secrets, "token_hex", lambda n: next(tokens))
    _io.atomic_write_text(tmp_path / "c.txt", "new")
    assert victim.read_text() == "keep"
    assert (tmp_path / "c.txt").read_text() == "new"
    assert (tmp_path / ".c.txt.aaaa.tmp").is_symlink()


# -- figures ------------------------------------------------------------------------------
def test_forest_has_a_legend_and_readable_names(demo_like):
    report, _ = demo_like
    fig = report.plot_forest()
    ax = fig.axes[0]
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert max(ticks, key=ticks.get) == "overall"  # on top
    assert "cluster 1 of the positives (k-means)" in ticks
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "worse than its reference (adjusted p < 0.05)" in legend
    assert "better than its reference (adjusted p < 0.05)" in legend
    assert any(t.startswith("overall AUC") for t in legend)


def test_roc_draws_every_stratum_or_names_those_left_out(report):
    fig = report.plot_roc()
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == [str(s) for s in report.table["stratum"].iloc[1:]]
    fig = report.plot_roc(["drain=no"])
    lines = fig.axes[0].get_lines()  # diagonal, overall curve and dot, stratum curve and dot
    assert [lines[1].get_color(), lines[3].get_color()] == ["black", "tab:red"]
    with pytest.raises(ValueError, match="not in this report"):
        report.plot_roc(["nope"])
    y, s = report.predictions.y_true, report.predictions.y_score
    strata = {f"s{i}": np.arange(len(y)) % 12 == i for i in range(12)}
    fig = plot_roc(y, s, strata)
    assert len(fig.axes[0].get_legend().get_texts()) == 13
    fig = plot_roc(y, s, strata, max_strata=8)
    assert fig.axes[0].get_legend().get_title().get_text() == "4 more not drawn: s8, s9, s10, ..."


@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_many_strata_get_panels_and_a_note(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.random(600) < 0.5
    s = rng.normal(size=600) + y
    report = hstrat.evaluate(
        y, s, pd.Series(np.arange(600) % 30, name="g"), ci="delong", progress=False
    )
    fig = report.plot_roc()
    assert sum(bool(ax.get_title()) for ax in fig.axes) == 24
    assert "6 more not drawn: g=24, g=25" in fig.get_suptitle()


@pytest.mark.parametrize("name", ["cost $5 to $10", "$x^$", r"a\$b $c"])
def test_text_in_figures_is_never_math(name, tmp_path):
    report = small_report(name=name)
    fig = report.plot_forest()
    label = next(t for t in fig.axes[0].get_yticklabels() if t.get_text() != "overall")
    assert label._preprocess_math(label.get_text()) == (name, False)
    report.save(tmp_path / "out")  # draws every figure
    grid = plot_image_grid(np.zeros((3, 4, 4)), {name: [0, 1]}, title=name)
    grid.savefig(tmp_path / "grid.png")


def test_cluster_map_counts_are_the_tables(demo_like):
    report, _ = demo_like
    (fig,) = report._cluster_maps().values()
    table = report.table.set_index("stratum")
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    held_out = {
        "cluster 1 of the positives (k-means)": int(table.loc["kmeans:pos:c0", "n_pos"]),
        "cluster 1 of the negatives (k-means)": int(table.loc["kmeans:neg:c1", "n_neg"]),
    }
    for name, n in held_out.items():
        assert any(label.startswith(f"{name}: n={n},") for label in labels), labels


def test_the_current_folder_is_never_swapped_away(tmp_path, monkeypatch, quick_figures):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is the current folder"):
        small_report().save(".")
    small_report().save("audit")
    assert Path.cwd() == tmp_path
    assert (tmp_path / "audit" / "report.json").exists()
