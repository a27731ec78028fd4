import csv
import http.client
import json
import re
import threading
import urllib.error
import urllib.request
from datetime import datetime

import pandas as pd
import pytest
from labeler_helpers import SCHEMA, ServerProcess, png_bytes, serve_args, write_setup

from hstrat import Schema
from hstrat.exceptions import SchemaError
from hstrat.strata import make_labeler_server, read_labels
from hstrat.strata._labeler import LabelStore, load_items

schema = Schema.from_dict(SCHEMA)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def setup(tmp_path):
    return write_setup(tmp_path, n=6, extra_ids=['<img src=x onerror="alert(1)">'])


@pytest.fixture
def server(setup):
    srv = make_labeler_server(
        schema, setup["items"], setup["root"], setup["out"], annotator="dr_a"
    )
    thread = threading.Thread(
        target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


class Client:
    def __init__(self, server):
        self.server = server
        self.host, self.port = server.server_address[:2]
        page = self.raw("GET", "/")[2].decode()
        self.token = re.search(r'name="hstrat-token" content="([0-9a-f]+)"', page).group(1)

    def raw(self, method, path, body=None, headers=None, host=None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host or f"127.0.0.1:{self.port}")
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def api(self, path, payload=None, token=None):
        headers = {"X-Hstrat-Token": self.token if token is None else token}
        body = None
        method = "GET"
        if payload is not None:
            method = "POST"
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        status, _, data = self.raw(method, path, body, headers)
        return status, json.loads(data)


@pytest.fixture
def client(server):
    return Client(server)


# -- the page and its files ---------------------------------------------------------
def test_page_is_served_with_strict_headers(client):
    status, headers, body = client.raw("GET", "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert b"Keyboard shortcuts" in body
    for path, kind in (
        ("/static/labeler.js", "text/javascript"),
        ("/static/labeler.css", "text/css"),
    ):
        status, headers, body = client.raw("GET", path)
        assert status == 200
        assert headers["Content-Type"].startswith(kind)
        assert body
    status, headers, body = client.raw("HEAD", "/")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) > 0


def test_schema_name_is_escaped_in_the_page(setup):
    spec = {**SCHEMA, "name": "<script>alert(1)</script>"}
    srv = make_labeler_server(
        Schema.from_dict(spec), setup["items"], setup["root"], setup["out"], annotator="a"
    )
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        body = Client(srv).raw("GET", "/")[2].decode()
    finally:
        srv.shutdown()
        srv.server_close()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_only_listed_images_can_be_fetched(client, setup):
    status, headers, body = client.raw("GET", "/image/0")
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert body == (setup["root"] / "images/00000_000.png").read_bytes()
    (setup["root"] / "secret.txt").write_text("do not serve")
    for path in [
        "/image/7",
        "/image/-1",
        "/image/1.0",
        "/image/",
        "/image/0/../../secret.txt",
        "/image/..%2Fsecret.txt",
        "/secret.txt",
        "/images/00000_000.png",
        "/../secret.txt",
        "/static/",
        "/static/../_labeler.py",
        "/static/index.html",
        "/_labeler_static/labeler.js",
        "/api/",
        "/api/item/99",
        "/api/item/x",
        "/labels.csv",
        "/items.csv",
        "//etc/passwd",
    ]:
        status, _, body = client.raw("GET", path, headers={"X-Hstrat-Token": client.token})
        assert status == 404, path
        assert b"do not serve" not in body


def test_requests_for_another_host_are_refused(client):
    status, _, _ = client.raw("GET", "/", host="attacker.example:80")
    assert status == 403
    status, _, _ = client.raw("GET", "/image/0", host=f"attacker.example:{client.port}")
    assert status == 403
    status, _, _ = client.raw("GET", "/", host=f"localhost:{client.port}")
    assert status == 200


def test_api_needs_the_token_and_json(client, setup):
    assert client.api("/api/state", token="")[0] == 403
    assert client.api("/api/state", token="0" * 32)[0] == 403
    status, _ = client.api(
        "/api/answer", {"index": 0, "variable": "opacity", "value": "mild"}, token="bad"
    )
    assert status == 403
    body = b'{"index": 0, "variable": "opacity", "value": "mild"}'
    status, _, _ = client.raw(
        "POST", "/api/answer", body, {"X-Hstrat-Token": client.token, "Content-Type": "text/plain"}
    )
    assert status == 415
    status, _, _ = client.raw(
        "POST",
        "/api/answer",
        b"{not json",
        {"X-Hstrat-Token": client.token, "Content-Type": "application/json"},
    )
    assert status == 400
    status, _, _ = client.raw(
        "POST",
        "/api/answer",
        b"[1]",
        {"X-Hstrat-Token": client.token, "Content-Type": "application/json"},
    )
    assert status == 400
    status, _, _ = client.raw("PUT", "/api/answer", body, {"X-Hstrat-Token": client.token})
    assert status == 501
    assert not setup["out"].exists()


# -- answering ----------------------------------------------------------------------
def test_state_and_items(client):
    status, state = client.api("/api/state")
    assert status == 200
    assert state["total"] == 7
    assert state["start"] == 0
    assert state["annotator"] == "dr_a"
    assert [v["name"] for v in state["schema"]["variables"]] == ["chest_drain", "opacity"]
    assert state["schema"]["variables"][0]["values"][0] == {
        "value": "yes",
        "description": "a drain is visible",
    }
    _, positive = client.api("/api/item/0")
    assert positive["variables"] == ["chest_drain", "opacity"]
    _, negative = client.api("/api/item/1")
    assert negative["variables"] == ["opacity"]  # chest_drain applies to positives
    _, odd = client.api("/api/item/6")
    assert odd["id"] == '<img src=x onerror="alert(1)">'
    assert odd["image"] == "/image/6"


def test_each_answer_is_saved_at_once(client, setup):
    status, item = client.api(
        "/api/answer", {"index": 0, "variable": "chest_drain", "value": "yes"}
    )
    assert status == 200
    assert not item["complete"]
    assert item["answers"]["chest_drain"] == "yes"
    rows = read_rows(setup["out"])
    assert len(rows) == 1
    assert rows[0]["id"] == "00000_000.png"
    assert rows[0]["chest_drain"] == "yes"
    assert rows[0]["opacity"] == ""
    assert rows[0]["annotator"] == "dr_a"
    assert rows[0]["skipped"] == "false"
    assert datetime.fromisoformat(rows[0]["labelled_at"]).tzinfo is not None
    _, item = client.api("/api/answer", {"index": 0, "variable": "opacity", "value": "mild"})
    assert item["complete"]
    assert item["done"] == 1
    _, item = client.api("/api/skip", {"index": 1})
    assert item["skipped"]
    assert item["skipped_count"] == 1
    _, state = client.api("/api/state")
    assert state["start"] == 2
    assert state["done"] == 1
    assert state["skipped"] == 1
    _, item = client.api("/api/answer", {"index": 1, "variable": "opacity", "value": "none"})
    assert item["complete"]
    assert not item["skipped"]
    assert [r["skipped"] for r in read_rows(setup["out"])] == ["false", "false"]
    labels = read_labels(setup["out"])
    schema.validate(
        labels.drop(columns=["annotator", "labelled_at", "skipped"]),
        y_true=pd.Series([1, 0], index=labels.index),
    )


def test_bad_answers_are_refused_and_nothing_is_written(client, setup):
    for payload, message in [
        ({"index": 0, "variable": "chest_drain", "value": "maybe"}, "not allowed"),
        ({"index": 0, "variable": "drain", "value": "yes"}, "does not apply"),
        ({"index": 1, "variable": "chest_drain", "value": "yes"}, "does not apply"),
        ({"index": 7, "variable": "opacity", "value": "none"}, "index must be"),
        ({"index": "0", "variable": "opacity", "value": "none"}, "index must be"),
        ({"index": True, "variable": "opacity", "value": "none"}, "index must be"),
        ({"index": 0, "variable": "opacity", "value": 1}, "must be strings"),
    ]:
        status, reply = client.api("/api/answer", payload)
        assert status == 400, payload
        assert message in reply["error"], payload
    assert not setup["out"].exists()


def test_concurrent_answers_leave_a_complete_file(client, setup):
    def work(index):
        for value in ("none", "mild", "severe"):
            client.api("/api/answer", {"index": index, "variable": "opacity", "value": value})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = read_rows(setup["out"])
    assert len(rows) == 7
    assert {r["opacity"] for r in rows} == {"severe"}


# -- the labels file ------------------------------------------------------------------
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]  # no temporary left
    assert store.row("y") is None
    assert store.row("x")["opacity"] == "mild"


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


def test_annotator_is_required():
    with pytest.raises(ValueError, match="annotator must be a non-empty name"):
        LabelStore("x.csv", schema, annotator=" ")


# -- items ------------------------------------------------------------------------------
def test_items_are_checked_together(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_bytes(pd.DataFrame([[0]]).to_numpy()))
    (tmp_path / "images" / "notes.txt").write_text("x")
    (tmp_path.parent / "outside.png").write_bytes(b"x")
    items = pd.DataFrame(
        {
            "id": ["a", "a", "b", "c", "d", "e", "f", "", "g"],
            "path": [
                "images/a.png",
                "images/a.png",
                "/etc/passwd.png",
                "../outside.png",
                "images/../../outside.png",
                "images/notes.txt",
                "images/missing.png",
                "images/a.png",
                "images/a.png",
            ],
            "y_true": ["1", "1", "0", "0", "0", "0", "0", "0", "maybe"],
        }
    )
    with pytest.raises(ValueError, match="items has problems") as excinfo:
        load_items(items, tmp_path)
    text = str(excinfo.value)
    assert "id 'a' appears more than once" in text
    assert text.count("must be relative to images_root and stay inside it") == 3
    assert "is not an image a browser shows" in text
    assert "no file" in text
    assert "missing.png" in text
    assert "row 8 has no id" in text
    assert "y_true must be 0 or 1; got 'maybe'" in text
    loaded = load_items(items.iloc[:1], tmp_path)
    assert loaded[0].y_true is True
    assert loaded[0].path == "images/a.png"


def test_items_need_id_and_path(tmp_path):
    with pytest.raises(ValueError, match=r"missing \['path'\]"):
        load_items(pd.DataFrame({"id": ["a"]}), tmp_path)
    with pytest.raises(ValueError, match="is not a folder"):
        load_items(pd.DataFrame({"id": ["a"], "path": ["a.png"]}), tmp_path / "nope")
    with pytest.raises(ValueError, match="items is empty"):
        load_items(pd.DataFrame({"id": [], "path": []}), tmp_path)


# -- a killed server loses nothing --------------------------------------------------------
def post(url, token, path, payload):
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(payload).encode(),
        headers={"X-Hstrat-Token": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def token_of(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return re.search(r'content="([0-9a-f]{32})"', response.read().decode()).group(1)


def test_killed_server_keeps_every_saved_answer_and_resumes(tmp_path):
    setup = write_setup(tmp_path, n=4)
    server = ServerProcess(setup)
    try:
        token = token_of(server.url)
        post(
            server.url,
            token,
            "/api/answer",
            {"index": 0, "variable": "chest_drain", "value": "yes"},
        )
        post(
            server.url,
            token,
            "/api/answer",
            {"index": 0, "variable": "opacity", "value": "severe"},
        )
        post(
            server.url, token, "/api/answer", {"index": 1, "variable": "opacity", "value": "none"}
        )
        post(
            server.url, token, "/api/answer", {"index": 2, "variable": "opacity", "value": "mild"}
        )
    finally:
        server.kill()
    rows = read_rows(setup["out"])
    assert [(r["id"], r["chest_drain"], r["opacity"]) for r in rows] == [
        ("00000_000.png", "yes", "severe"),
        ("00001_000.png", "", "none"),
        ("00002_000.png", "", "mild"),
    ]
    again = ServerProcess(setup)
    try:
        token = token_of(again.url)
        request = urllib.request.Request(
            again.url + "api/state", headers={"X-Hstrat-Token": token}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            state = json.load(response)
        assert state["start"] == 2  # item 2 (a positive) still lacks chest_drain
        assert state["done"] == 2
    finally:
        again.kill()


def test_serve_reports_bad_setup_and_exits(tmp_path, capsys):
    from hstrat.cli import main

    setup = write_setup(tmp_path, n=2)
    (setup["root"] / "images" / "00001_000.png").unlink()
    code = main(serve_args(setup))
    assert code == 1
    assert "no file" in capsys.readouterr().err
    assert not setup["out"].exists()


def test_urlopen_helper_surfaces_http_errors(client):
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{client.port}/nope", timeout=5)


def test_server_url(server):
    assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"


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
