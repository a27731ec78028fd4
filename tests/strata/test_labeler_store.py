"""The labels file: every acknowledged answer survives other writers, kills and edits."""

import json
import multiprocessing
import subprocess
import sys

import pytest
from labeler_helpers import (
    KEEP_WRITING,
    SCHEMA,
    Client,
    expected_value,
    hammer,
    read_rows,
    serve_args,
    serving,
    write_setup,
)

from hstrat import Schema
from hstrat.exceptions import SchemaError
from hstrat.strata import make_labeler_server, read_labels
from hstrat.strata._label_store import LabelStore

schema = Schema.from_dict(SCHEMA)


def cells(path):
    """{(id, annotator): {variable: value}} of the non-empty answers in a labels file."""
    return {
        (r["id"], r["annotator"]): {v: r[v] for v in schema.variables if r[v]}
        for r in read_rows(path)
    }


# -- several writers ------------------------------------------------------------------------
def test_servers_sharing_a_file_keep_every_acknowledged_answer(tmp_path):
    """Two annotators and a second tab of one of them, answering in turn on one file."""
    setup = write_setup(tmp_path, n=6)
    servers = [
        make_labeler_server(
            schema, setup["items"], setup["root"], setup["out"], annotator=annotator
        )
        for annotator in ("dr_a", "dr_b", "dr_a")
    ]
    expected: dict[tuple[str, str], dict[str, str]] = {}
    with serving(servers[0]), serving(servers[1]), serving(servers[2]):
        clients = [Client(s) for s in servers]
        rounds = [("opacity", ["none", "mild", "severe"]), ("chest_drain", ["yes", "no"])]
        for variable, values in rounds:
            for index in range(0, 6, 2):  # positives: both variables apply
                for turn, (client, annotator) in enumerate(
                    zip(clients, ("dr_a", "dr_b", "dr_a"), strict=True)
                ):
                    value = values[(index + turn) % len(values)]
                    status, item = client.api(
                        "/api/answer", {"index": index, "variable": variable, "value": value}
                    )
                    assert status == 200, item
                    key = (item["id"], annotator)
                    expected.setdefault(key, {})[variable] = value  # the later tab wins
                    assert cells(setup["out"]) == expected  # nothing lost, nothing reverted
        # each tab shows what the other saved: the file is re-read, not a stale copy
        _, shown = clients[0].api("/api/item/0")
        assert shown["answers"] == expected[(shown["id"], "dr_a")]
        assert clients[1].api("/api/state")[1]["done"] == 3
    assert len(expected) == 6
    for annotator in ("dr_a", "dr_b"):
        labels = read_labels(setup["out"], annotator=annotator)
        assert len(labels) == 3


def test_an_edit_by_hand_between_answers_is_kept(tmp_path):
    path = tmp_path / "labels.csv"
    store = LabelStore(path, schema, annotator="dr_a")
    store.answer("a", "opacity", "mild")
    with open(path, "a", encoding="utf-8") as handle:  # e.g. a spreadsheet, or a script
        handle.write("b,yes,none,dr_b,2024-01-01T00:00:00+00:00,false\n")
    store.answer("a", "chest_drain", "no")
    assert cells(path) == {
        ("a", "dr_a"): {"opacity": "mild", "chest_drain": "no"},
        ("b", "dr_b"): {"chest_drain": "yes", "opacity": "none"},
    }
    assert store.rows().keys() == {"a"}


@pytest.mark.slow  # spawns Python processes: several seconds
def test_processes_hammering_one_file_lose_nothing(tmp_path):
    """4 processes x 50 answers; two processes change the same rows (other variables)."""
    path = tmp_path / "labels.csv"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)  # every process starts writing at the same time
    processes = [context.Process(target=hammer, args=(str(path), p, 50, start)) for p in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    expected = {
        (f"case{k:02d}", f"ann{a}"): {
            "opacity": expected_value("opacity", k),
            "chest_drain": expected_value("chest_drain", k),
        }
        for k in range(50)
        for a in (0, 1)
    }
    assert cells(path) == expected
    assert [p.name for p in tmp_path.iterdir() if p.name != ".labels.csv.lock"] == ["labels.csv"]


@pytest.mark.slow  # spawns Python processes: several seconds
def test_kill_9_while_writing_leaves_a_whole_file_with_every_acknowledged_answer(tmp_path):
    path = tmp_path / "labels.csv"
    acknowledged: list[int] = []
    for stop_after in (3, 30, 60):
        start = max(acknowledged, default=-1) + 1
        writer = subprocess.Popen(
            [sys.executable, "-c", KEEP_WRITING, str(path), str(start), json.dumps(SCHEMA)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        for _ in range(stop_after):
            acknowledged.append(int(writer.stdout.readline()))
        writer.kill()  # SIGKILL, most likely in the middle of a write
        writer.wait(timeout=30)
        writer.stdout.close()
        rows = LabelStore(path, schema, annotator="dr_a").rows()  # reads the file and checks it
        saved = {int(i[len("case") :]) for i in rows}
        assert set(acknowledged) <= saved
        assert saved <= set(acknowledged) | {max(saved)}  # at most the answer in flight


# -- the file itself ------------------------------------------------------------------------
def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "labels.csv"
    store = LabelStore(path, schema, annotator="a")
    store.answer("x", "opacity", "mild")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.answer("y", "opacity", "none")
    with pytest.raises(OSError, match="disk full"):
        store.answer("x", "opacity", "severe")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".labels.csv.lock", "labels.csv"]
    assert "y" not in store.rows()
    assert store.rows()["x"]["opacity"] == "mild"


def test_other_annotators_and_items_are_kept(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,chest_drain,opacity,annotator,labelled_at,skipped\n"
        "a,yes,none,dr_b,2024-01-01T00:00:00+00:00,false\n"
        "gone,,mild,dr_a,2024-01-01T00:00:00+00:00,false\n"
    )
    store = LabelStore(path, schema, annotator="dr_a")
    store.answer("a", "opacity", "severe")
    rows = read_rows(path)
    assert [(r["id"], r["annotator"], r["opacity"]) for r in rows] == [
        ("a", "dr_b", "none"),
        ("gone", "dr_a", "mild"),
        ("a", "dr_a", "severe"),
    ]


def test_an_old_file_without_new_variables_is_extended(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,opacity,annotator,labelled_at\na,none,dr_a,2024-01-01T00:00:00+00:00\n")
    store = LabelStore(path, schema, annotator="dr_a")
    store.answer("a", "chest_drain", "no")
    assert read_rows(path)[0] == {
        "id": "a",
        "chest_drain": "no",
        "opacity": "none",
        "annotator": "dr_a",
        "labelled_at": read_rows(path)[0]["labelled_at"],
        "skipped": "false",
    }


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("id,notes,annotator\na,hello,dr_a\n", ValueError, "does not look like labels"),
        ("case,opacity\na,none\n", ValueError, "does not look like labels"),
        ("id,id,annotator\na,a,dr_a\n", ValueError, "does not look like labels"),
        (
            "id,opacity,annotator\na,Mild,dr_a\nb,none,dr_a\nb,none,dr_a\n,none,dr_a\n",
            SchemaError,
            "3 problems",
        ),
    ],
)
def test_a_file_that_does_not_fit_is_refused_and_kept(tmp_path, text, error, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(error, match=message):
        LabelStore(path, schema, annotator="dr_a")
    assert path.read_text() == text


DAMAGED = {
    "not UTF-8": b"id,opacity,annotator\na,n\xffne,dr_a\n",
    "zeros after a power cut": b"\0" * 300,
    "a torn row": b'id,opacity,annotator\na,none,dr_a\nb,"mi',
    "a row too long": b"id,opacity,annotator\na,none,dr_a,extra\n",
    "a huge field": b'id,opacity,annotator\na,"' + b"x" * 200_000 + b'",dr_a\n',
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_file_gets_one_clear_error_and_is_kept(tmp_path, capsys, damage):
    from hstrat.cli import main

    setup = write_setup(tmp_path, n=2)
    setup["out"].write_bytes(DAMAGED[damage])
    with pytest.raises(ValueError, match=r"is damaged: .* It is left untouched") as excinfo:
        LabelStore(setup["out"], schema, annotator="dr_a")
    assert str(setup["out"]) in str(excinfo.value)
    assert len(str(excinfo.value)) < 400
    assert main([*serve_args(setup), "--annotator", "dr_a"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is damaged" in err
    assert setup["out"].read_bytes() == DAMAGED[damage]


@pytest.mark.parametrize("damage", ["not UTF-8", "a torn row", "a row too long"])
def test_reading_a_damaged_file_gets_one_clear_error(tmp_path, capsys, damage):
    from hstrat.cli import main

    path = tmp_path / "labels.csv"
    path.write_bytes(DAMAGED[damage])
    with pytest.raises(ValueError, match=r"is damaged or not a CSV .*; repair it"):
        read_labels(path)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    assert main(["label", "check", str(path), "--schema", str(schema_file)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(path) in err


def test_a_file_damaged_while_serving_refuses_answers_and_is_kept(tmp_path):
    setup = write_setup(tmp_path, n=2)
    server = make_labeler_server(
        schema, setup["items"], setup["root"], setup["out"], annotator="dr_a"
    )
    with serving(server):
        client = Client(server)
        answer = {"index": 0, "variable": "opacity", "value": "mild"}
        assert client.api("/api/answer", answer)[0] == 200
        good = setup["out"].read_bytes()
        setup["out"].write_bytes(b"\0" * 100)
        status, reply = client.api("/api/answer", answer)
        assert status == 400
        assert "is damaged" in reply["error"]
        assert client.api("/api/state")[0] == 400
        assert setup["out"].read_bytes() == b"\0" * 100
        setup["out"].write_bytes(good)  # restored: labelling goes on
        assert client.api("/api/skip", {"index": 1})[0] == 200
    assert len(read_rows(setup["out"])) == 2


def test_annotator_is_required():
    with pytest.raises(ValueError, match="annotator must be a non-empty name"):
        LabelStore("x.csv", schema, annotator=" ")


def test_boolean_variables_are_labelled_as_true_and_false(tmp_path):
    spec = {"variables": {"chest_drain": {"values": [False, True], "applies_to": "positives"}}}
    boolean_schema = Schema.from_dict(spec)
    path = tmp_path / "labels.csv"
    store = LabelStore(path, boolean_schema, annotator="a")
    store.answer("x", "chest_drain", "True")
    store.answer("y", "chest_drain", "false")
    with pytest.raises(ValueError, match="not allowed"):
        store.answer("z", "chest_drain", "yes")
    assert [r["chest_drain"] for r in read_rows(path)] == ["True", "False"]
    labels = read_labels(path).drop(columns=["annotator", "labelled_at", "skipped"])
    assert boolean_schema.validate(labels)["chest_drain"].tolist() == [True, False]
    LabelStore(path, boolean_schema, annotator="a")  # reads its own file back
