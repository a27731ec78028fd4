"""The tutorials' code runs as printed, and prints what the pages show.

Each page's fenced blocks run top to bottom in one fresh namespace, in a temporary
folder, as a reader would run them:

* a ```python block is executed; when a ```text block follows it directly (only blank
  lines between), that is what the block must print;
* a ```bash block runs its ``hstrat ...`` commands through :func:`hstrat.cli.main`, with
  the same rule for a ```text block after it;
* a block whose first line is ``# <file name>`` (the schema in TOML) is written to that
  file, as the reader is told to save it.

A block is skipped only when an HTML comment ``<!-- not run: <why> -->`` stands right
before it; the tests count those, so that no block is skipped silently.
"""

from __future__ import annotations

import io
import itertools
import re
import shlex
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from hstrat.cli import main as hstrat_cli
from hstrat.strata import Schema, make_labeler_server, read_labels

DOCS = Path(__file__).resolve().parents[1] / "docs"
LABELLING = DOCS / "labelling-tutorial.md"
DETECTORS = DOCS / "algorithmic-measurement.md"
ALIGNMENT = DOCS / "alignment.md"
MULTILABEL = DOCS / "tutorials" / "multilabel.md"

FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->$")
FILE_HEADER = re.compile(r"^#\s*(\S+\.(?:toml|json|ya?ml))\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    language: str
    code: str
    line: int  # of the opening fence, 1-based
    not_run: str | None  # the reason, when marked <!-- not run: ... -->
    follows_block: bool  # only blank lines since the previous block's closing fence


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""  # the last non-blank line outside a block
    blank_since_block = False
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
                blank_since_block = False
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{path.name}:{start + 1}: unclosed code block"
        marker = NOT_RUN.match(previous)
        blocks.append(
            Block(
                language=match.group(1),
                code="\n".join(body) + "\n",
                line=start + 1,
                not_run=marker.group(1) if marker else None,
                follows_block=blank_since_block,
            )
        )
        previous = "```"
        blank_since_block = True
        i += 1
    return blocks


def output_of(blocks: list[Block], index: int) -> str | None:
    """The ```text block right after ``blocks[index]``, if there is one."""
    if index + 1 < len(blocks):
        after = blocks[index + 1]
        if after.language == "text" and after.follows_block:
            return after.code
    return None


def normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def run_hstrat(command: str) -> str:
    """Run one ``hstrat ...`` command line in-process; return what it printed."""
    argv = shlex.split(command)
    assert argv[0] == "hstrat", f"not an hstrat command: {command!r}"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = hstrat_cli(argv[1:])
    assert code == 0, f"{command!r} exited with {code}:\n{err.getvalue()}"
    return out.getvalue()


def commands(code: str) -> list[str]:
    """The command lines of a bash block (continuation lines joined)."""
    return [c.strip() for c in code.replace("\\\n", " ").splitlines() if c.strip()]


@dataclass
class PageRun:
    namespace: dict[str, Any]
    ran: list[Block]
    skipped: list[Block]


def run_page(path: Path) -> PageRun:
    """Run the page's blocks in order in the current folder (see the module docstring)."""
    blocks = read_blocks(path)
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    ran, skipped = [], []
    for index, block in enumerate(blocks):
        where = f"{path.name}:{block.line}"
        header = FILE_HEADER.match(block.code.splitlines()[0]) if block.code.strip() else None
        if block.not_run is not None:
            skipped.append(block)
            continue
        if block.language not in ("python", "bash") and header is None:
            continue
        if header is not None and block.language != "python":
            Path(header.group(1)).write_text(block.code, encoding="utf-8")
            ran.append(block)
            continue
        printed = io.StringIO()
        if block.language == "python":
            with redirect_stdout(printed):
                exec(compile(block.code, where, "exec"), namespace)
        else:
            for command in commands(block.code):
                printed.write(run_hstrat(command))
        expected = output_of(blocks, index)
        if expected is not None:
            assert normalised(printed.getvalue()) == normalised(expected), (
                f"{where}: the block prints\n{printed.getvalue()}\nbut the page shows\n{expected}"
            )
        ran.append(block)
    plt.close("all")
    return PageRun(namespace, ran, skipped)


def check_every_block_accounted(path: Path, run: PageRun, *, not_run: int) -> None:
    """Every python and bash block ran, except the ``not_run`` marked ones."""
    text = path.read_text(encoding="utf-8")
    blocks = read_blocks(path)
    # no fence the parser missed (indented, or with a language it does not know)
    assert len(re.findall(r"^\s*```", text, flags=re.MULTILINE)) == 2 * len(blocks)
    assert {b.language for b in blocks} <= {"python", "bash", "text", "toml"}
    code = [b.line for b in blocks if b.language in ("python", "bash")]
    seen = [b.line for b in [*run.ran, *run.skipped] if b.language in ("python", "bash")]
    assert sorted(seen) == code
    assert len(run.skipped) == not_run, [(b.line, b.not_run) for b in run.skipped]
    assert len(re.findall(r"<!--\s*not run:", text)) == not_run, "a marker before no block"
    assert any(b.language == "python" for b in run.ran)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def labelling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PageRun, Path]]:
    """The labelling tutorial, run once in its own folder."""
    folder = tmp_path_factory.mktemp("labelling-tutorial")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        yield run_page(LABELLING), folder


# -- Label subclasses and audit the errors ------------------------------------------------


def test_labelling_tutorial_runs(labelling: tuple[PageRun, Path]) -> None:
    run, _ = labelling
    check_every_block_accounted(LABELLING, run, not_run=1)
    ns = run.namespace
    schema, audit = ns["schema"], ns["audit"]

    table = audit.table.set_index("stratum")
    assert set(table.index) == {
        "overall",
        "chest_drain=yes",
        "chest_drain=no",
        "airspace_opacity=yes",
        "airspace_opacity=no",
    }
    assert table.loc["chest_drain=no", "population"] == "positives"
    assert table.loc["airspace_opacity=no", "population"] == "all"
    # the drain labels come from the random sample only, not from the error review
    drain_labelled = ns["audit_labels"]["chest_drain"].dropna().index
    assert drain_labelled.isin(ns["audit_ids"]).all()
    assert table.loc[["chest_drain=no", "chest_drain=yes"], "n_pos"].sum() == len(drain_labelled)
    assert table.loc["chest_drain=no", "p_adjusted"] < 0.05  # the planted failure is found
    assert audit.provenance["schema"]["digest"] == schema.digest


def test_labelling_tutorial_label_files_are_what_the_page_writes(
    labelling: tuple[PageRun, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulated annotators' files are in the labelling page's format, and the
    ``hstrat label serve`` command that is not run would start on the page's items."""
    from hstrat.cli import build_parser
    from hstrat.strata._labeler import LabelStore

    run, folder = labelling
    monkeypatch.chdir(folder)
    schema = run.namespace["schema"]
    header = ",".join(LabelStore("unused.csv", schema, annotator="ann").columns)
    shown = next(b.code for b in read_blocks(LABELLING) if b.code.startswith("id,"))
    assert shown.splitlines()[0] == header
    for annotator in ("ann", "bob"):
        path = Path(f"labels-{annotator}.csv")
        assert path.read_text(encoding="utf-8").splitlines()[0] == header
        store = LabelStore(path, schema, annotator=annotator)  # reads and checks every row
        assert str(read_labels(path).index[0]) in store.rows()

    (serve,) = run.skipped
    args = build_parser().parse_args(shlex.split(commands(serve.code)[0])[1:])
    assert args.label_action == "serve"
    server = make_labeler_server(
        Schema.from_file(args.schema),
        args.items,
        args.images_root,
        args.out,
        annotator=args.annotator,
    )
    try:
        assert len(server.app.items) == len(run.namespace["items"])
    finally:
        server.server_close()


def test_labelling_tutorial_schema_errors_as_shown(in_tmp: Path) -> None:
    blocks = read_blocks(LABELLING)
    (toml,) = [b.code for b in blocks if b.language == "toml"]
    (shown,) = [b.code for b in blocks if b.code.startswith("hstrat schema check: error")]
    broken = toml.replace('applies_to = "positives"', 'applies = "positives"')
    broken = broken.replace('applies_to = "all"', 'applies_to = "al"')
    assert broken.count("applies") == toml.count("applies")
    Path("pneumothorax.toml").write_text(broken, encoding="utf-8")
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = hstrat_cli(["schema", "check", "pneumothorax.toml"])
    assert code == 1
    assert normalised(err.getvalue()) == normalised(shown)


# -- Algorithmic measurement ------------------------------------------------------------


def _minus(text: str) -> str:
    return text.replace("-", "\N{MINUS SIGN}")


def _cluster_row(row: pd.Series) -> list[str]:
    """A row of ``report.clusters`` as the page's table prints it."""
    return [
        row["name"],
        str(row["n"]),
        f"{row['auc']:.3f}",
        f"{row['auc_low']:.3f}\N{EN DASH}{row['auc_high']:.3f}",
        _minus(f"{row['auc_diff']:+.3f}"),
        f"{row['p_adjusted']:.1e}",
        f"{row['error_rate']:.2f}",
        f"{row['stability']:.2f}",
    ]


def test_algorithmic_measurement_runs(in_tmp: Path) -> None:
    run = run_page(DETECTORS)
    check_every_block_accounted(DETECTORS, run, not_run=0)
    ns = run.namespace
    report, detector = ns["report"], ns["detector"]
    text = DETECTORS.read_text(encoding="utf-8")

    # evaluate() and the detector on its own find the same clusters
    clusters = report.table[report.table["family"] == "kmeans"]
    assert len(clusters) >= 2
    assert clusters["stratum"].iloc[0] == "kmeans:pos:c0"
    assert list(report.clusters["name"]) == list(detector.clusters_["name"])
    # report.clusters takes its measurements from the table's rows
    aucs = report.clusters.set_index("stratum")["auc"]
    for stratum, auc in zip(clusters["stratum"], clusters["auc"], strict=True):
        assert auc == aucs[stratum]

    # the page's table of the top clusters is what the code gives
    header = "| name | n (held out) | AUC |"
    lines = text[text.index(header) :].splitlines()[2:]
    rows = itertools.takewhile(lambda line: line.startswith("| "), lines)
    shown = [line.strip("| ").split(" | ") for line in rows]
    assert len(shown) == 5
    for cells, (_, row) in zip(shown, report.clusters.head(5).iterrows(), strict=True):
        assert cells == _cluster_row(row)

    # ... and so are the numbers the prose quotes
    eights = ns["digit_test"] == 8
    top = detector.labels_ == 0
    table = report.table.set_index("stratum")
    quoted = [
        f"misses {detector.errors_[eights].mean():.0%} of the 8s",
        f"{eights[top].mean():.0%} eights and holds {top[eights].mean():.0%} of them",
        f"(AUC {table.loc['digit 8 (labelled)', 'auc']:.2f} against all odd digits)",
        f"failing cluster has stability {detector.clusters_['stability'].iloc[0]:.2f}",
        f"{detector.class_stability_['positives']:.2f} for the positives and "
        f"{detector.class_stability_['negatives']:.2f} for the negatives",
        f"no strong structure at k = {(detector.clusters_['class'] == 'negatives').sum()}",
        f"{detector.stability_:.2f} overall",
        f'"{table.loc["kmeans:pos:c0", "note"]}"',  # the note on every cluster's row
    ]
    flat = " ".join(text.split())
    for phrase in quoted:
        assert phrase in flat, f"the page does not say {phrase!r}"


# -- How hstrat lines up your data --------------------------------------------------------


def test_alignment_page_runs_and_shows_the_real_messages(in_tmp: Path) -> None:
    run = run_page(ALIGNMENT)
    check_every_block_accounted(ALIGNMENT, run, not_run=0)
    ns = run.namespace
    assert ns["again"].table["auc"].equals(ns["report"].table["auc"])


# -- Auditing a multi-label chest X-ray model ---------------------------------------------


@pytest.mark.slow
def test_multilabel_tutorial_runs_and_finds_the_undrained_failure(in_tmp: Path) -> None:
    run = run_page(MULTILABEL)
    check_every_block_accounted(MULTILABEL, run, not_run=0)
    reports = run.namespace["reports"]
    summary = reports.summary.set_index("finding")
    assert summary.loc["pneumothorax", "worst_stratum"] == "chest_drain=False"
    assert summary.loc["pneumothorax", "worst_p_adjusted"] < 1e-6
    assert summary.loc["chest_drain", "auc"] > 0.95
    assert (in_tmp / "audit" / "index.html").is_file()
