"""The HTTP side of the labelling page: routes, checks and headers.

Imported only when a labelling server is made, so ``import hstrat`` does not load
:mod:`http.server`; :mod:`hstrat.strata._labeler` says what is served and why it is safe.
Each request is also bounded: a silent client is dropped after 30 s; an error answer reads
the declared body and closes the connection (so a body is never taken for a second
request that skipped the checks); an index in a URL is ASCII digits; a JSON body is at
most 64 KiB and 4 levels deep.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import secrets
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._labeler import LabelerApp

__all__ = ["LabelerServer"]

_STATIC: Mapping[str, str] = {
    "/static/labeler.js": "text/javascript; charset=utf-8",
    "/static/labeler.css": "text/css; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_MAX_BODY = 64 * 1024
_MAX_DEPTH = 4  # an answer is a flat JSON object
_TIMEOUT = 30.0  # seconds a connection may stay silent


def _static(name: str) -> bytes:
    return resources.files("hstrat.strata").joinpath("_labeler_static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: LabelerServer
    server_version = "hstrat-labeler"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = _TIMEOUT  # applied to the socket by StreamRequestHandler.setup
    _body_read = False  # whether this request's body has been read

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the terminal quiet; the page shows what happened."""

    def parse_request(self) -> bool:
        """Read the request line and headers; the body is not read yet."""
        self._body_read = False
        return super().parse_request()

    # -- responses ------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, *, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        if status >= 400:
            self.send_header("Connection", "close")  # sets close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        """Answer an error; read the declared body first, and close the connection."""
        length = _number(self.headers.get("Content-Length") or "0", below=_MAX_BODY + 1)
        if length and not self._body_read:
            self.rfile.read(length)
        self._json(status, {"error": message})

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        return host in self.server.allowed_hosts

    def _token_ok(self) -> bool:
        return secrets.compare_digest(
            self.headers.get("X-Hstrat-Token", ""), self.server.app.token
        )

    # -- routes ---------------------------------------------------------------------
    def do_HEAD(self) -> None:
        """Answer like GET without a body."""
        self.do_GET()

    def do_GET(self) -> None:
        """Serve the page, its two static files, the API reads and the listed images."""
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return
        path = self.path.split("?", 1)[0]
        app = self.server.app
        if path == "/":
            page = _static("index.html").decode("utf-8")
            page = page.replace("{{TOKEN}}", app.token)
            page = page.replace("{{TITLE}}", html.escape(app.schema.name))
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
        elif path in _STATIC:
            self._send(HTTPStatus.OK, _static(path.rsplit("/", 1)[1]), _STATIC[path])
        elif path.startswith("/image/"):
            index = _number(path[len("/image/") :], below=len(app.items))
            image = None
            if index is not None:
                with contextlib.suppress(OSError):
                    image = app.image(index)
            if image is None:
                self._error(HTTPStatus.NOT_FOUND, "no such item, or its file cannot be read")
                return
            self._send(HTTPStatus.OK, *image, cache=True)
        elif path.startswith("/api/") and not self._token_ok():
            self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
        elif path == "/api/state":
            self._reply(app.state)
        elif (
            path.startswith("/api/item/")
            and (index := _number(path[len("/api/item/") :], below=len(app.items))) is not None
        ):
            self._reply(app.item_state, index)
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        """Record an answer or a skip; JSON only, with the page's token."""
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return
        if not self._token_ok():
            self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        length = _number(self.headers.get("Content-Length") or "", below=_MAX_BODY + 1)
        if not length:
            self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return
        body = self.rfile.read(length)
        self._body_read = True
        try:
            if _depth(body) > _MAX_DEPTH:
                raise ValueError("too deeply nested")
            payload = json.loads(body)
        except ValueError:  # also UnicodeDecodeError
            self._error(HTTPStatus.BAD_REQUEST, "body is not a JSON answer")
            return
        routes: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "/api/answer": self.server.app.answer,
            "/api/skip": self.server.app.skip,
        }
        action = routes.get(self.path)
        if action is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
        elif not isinstance(payload, dict):
            self._error(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        else:
            self._reply(action, payload)

    def _reply(self, action: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Answer with ``action(*args)``: a ValueError is a 400, an OSError a 500."""
        try:
            result = action(*args)
        except ValueError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
        except OSError as err:  # the file could not be read or written: say so
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"the labels file could not be read or saved: {err}",
            )
        else:
            self._json(HTTPStatus.OK, result)


def _number(text: str, *, below: int) -> int | None:
    """``text`` as an integer in [0, below), or None; ASCII digits only (not "²" or "٣")."""
    if not re.fullmatch(r"[0-9]{1,9}", text):
        return None
    number = int(text)
    return number if number < below else None


def _depth(body: bytes) -> int:
    """How deeply the JSON in ``body`` nests, counted without parsing it recursively."""
    text = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", body)  # strings cannot open a level
    steps = (1 if c in b"[{" else -1 for c in text if c in b"[]{}")
    return max(itertools.accumulate(steps), default=0)


class LabelerServer(ThreadingHTTPServer):
    """The labelling server (:func:`~hstrat.strata.make_labeler_server`).

    ``serve_forever()`` runs it; requests are answered by :class:`_Handler` from the
    state in ``app``.
    """

    daemon_threads = True

    def __init__(self, app: LabelerApp, *, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.app = app
        bound = self.server_address[1]
        names = {host.lower(), "localhost", "127.0.0.1", "[::1]"}
        self.allowed_hosts = frozenset(f"{name}:{bound}" for name in names)

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host, port = self.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}/"
