import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime

import pandas as pd
import pytest
from labeler_helpers import (
    SCHEMA,
    Client,
    ServerProcess,
    png_bytes,
    read_rows,
    serve_args,
    serving,
    write_setup,
)

from hstrat import Schema
from hstrat.strata import make_labeler_server, read_labels
from hstrat.strata._labeler import load_items
from hstrat.strata._labeler_http import _Handler

schema = Schema.from_dict(SCHEMA)


@pytest.fixture
def setup(tmp_path):
    return write_setup(tmp_path, n=6, extra_ids=['<img src=x onerror="alert(1)">'])


@pytest.fixture
def server(setup):
    srv = make_labeler_server(
        schema, setup["items"], setup["root"], setup["out"], annotator="dr_a"
    )
    with serving(srv):
        yield srv


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
    with serving(srv):
        body = Client(srv).raw("GET", "/")[2].decode()
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


# -- each request is bounded ----------------------------------------------------------
def exchange(client, data, *, wait=10.0):
    """Send raw bytes on one connection; return everything the server sends back."""
    with socket.create_connection((client.host, client.port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def request(path, host, *, method="GET", token="", body=b"", content_type="text/plain"):
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Hstrat-Token: {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@pytest.mark.parametrize("refusal", ["host", "token", "content type", "not json"])
def test_a_body_after_an_early_error_is_never_served_as_a_request(client, setup, refusal):
    host = f"127.0.0.1:{client.port}"
    answer = json.dumps({"index": 0, "variable": "opacity", "value": "mild"}).encode()
    smuggled = request("/", host) + request(
        "/api/answer",
        host,
        method="POST",
        token=client.token,
        body=answer,
        content_type="application/json",
    )
    outer = {
        "host": {"host": "attacker.example:80"},
        "token": {"token": "0" * 32},
        "content type": {"token": client.token},
        "not json": {"token": client.token, "content_type": "application/json"},
    }[refusal]
    outer = {"host": host, **outer}
    reply = exchange(client, request("/api/answer", method="POST", body=smuggled, **outer))
    assert reply.count(b"HTTP/1.1 ") == 1  # one answer: the refusal, then the connection closes
    assert reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 403", b"HTTP/1.1 415"))
    assert b"Connection: close" in reply
    assert client.token.encode() not in reply
    assert not setup["out"].exists()


def test_good_requests_keep_the_connection_open(client):
    host = f"127.0.0.1:{client.port}"
    reply = exchange(client, request("/static/labeler.css", host) * 2 + request("/nope", host))
    assert reply.count(b"HTTP/1.1 200") == 2
    assert reply.count(b"HTTP/1.1 404") == 1


def test_a_silent_client_is_dropped(setup, monkeypatch):
    monkeypatch.setattr(_Handler, "timeout", 0.5)
    srv = make_labeler_server(schema, setup["items"], setup["root"], setup["out"], annotator="a")
    with serving(srv):
        client = Client(srv)
        started = time.monotonic()
        reply = exchange(client, b"GET / HTTP/1.1\r\nHost: 127.0.0", wait=30)  # never finishes
        assert reply == b""  # closed by the server
        assert time.monotonic() - started < 10
        assert client.raw("GET", "/")[0] == 200  # and it still serves others


@pytest.mark.parametrize(
    "digit", ["\u00b2", "\u00b9", "\u00bd", "%31", "1%20", "+1", "0x1", "1" * 12]
)
def test_only_ascii_digits_are_indexes(client, digit):
    host = f"127.0.0.1:{client.port}"
    for path in (f"/image/{digit}", f"/api/item/{digit}"):
        reply = exchange(client, request(path, host, token=client.token))
        assert reply.startswith(b"HTTP/1.1 404"), (path, reply[:40])


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"index": 0, "x": [[[[[0]]]]]}',
    ],
    ids=["30k lists", "10k objects", "5 levels"],
)
def test_deeply_nested_json_is_refused(client, setup, body):
    status, _, reply = client.raw(
        "POST",
        "/api/answer",
        body.encode(),
        {"X-Hstrat-Token": client.token, "Content-Type": "application/json"},
    )
    assert status == 400
    assert b"not a JSON answer" in reply
    nested_strings = {"index": 0, "variable": "opacity", "value": "mild", "note": "[[[[[[{{{{"}
    assert client.api("/api/answer", nested_strings)[0] == 200  # brackets in strings are text


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


def test_a_file_that_cannot_be_saved_is_a_server_error(client, setup, monkeypatch):
    def full(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", full)
    status, reply = client.api("/api/answer", {"index": 0, "variable": "opacity", "value": "mild"})
    assert status == 500
    assert reply["error"] == "the labels file could not be read or saved: disk full"
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


def test_server_url(server):
    assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"
