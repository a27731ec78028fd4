"""The HTTP side of the labelling page: routes, checks and headers.

Imported only when a labelling server is made, so ``import hstrat`` does not load
:mod:`http.server`. See :mod:`hstrat.strata._labeler` for what is served and why it is
safe.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from ._labeler import IMAGE_TYPES, LabelerApp

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


def _static(name: str) -> bytes:
    return resources.files("hstrat.strata").joinpath("_labeler_static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: LabelerServer
    server_version = "hstrat-labeler"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the terminal quiet; the page shows what happened."""

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
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
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
            page = page.replace("{{TOKEN}}", app.token).replace(
                "{{TITLE}}", html.escape(app.schema.name)
            )
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
        elif path in _STATIC:
            self._send(HTTPStatus.OK, _static(path.rsplit("/", 1)[1]), _STATIC[path])
        elif path.startswith("/image/"):
            index = _parse_index(path[len("/image/") :], len(app.items))
            if index is None:
                self._error(HTTPStatus.NOT_FOUND, "no such item")
                return
            item = app.items[index]
            try:
                data = item.file.read_bytes()
            except OSError:
                self._error(HTTPStatus.NOT_FOUND, "the image file can no longer be read")
                return
            self._send(HTTPStatus.OK, data, IMAGE_TYPES[item.file.suffix.lower()], cache=True)
        elif path.startswith("/api/"):
            if not self._token_ok():
                self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
                return
            if path == "/api/state":
                self._json(HTTPStatus.OK, app.state())
                return
            if path.startswith("/api/item/"):
                index = _parse_index(path[len("/api/item/") :], len(app.items))
                if index is not None:
                    self._json(HTTPStatus.OK, app.item_state(index))
                    return
            self._error(HTTPStatus.NOT_FOUND, "not found")
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
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if not 0 < length <= _MAX_BODY:
            self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
            return
        if not isinstance(payload, dict):
            self._error(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
            return
        routes: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "/api/answer": self.server.app.answer,
            "/api/skip": self.server.app.skip,
        }
        action = routes.get(self.path)
        if action is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            result = action(payload)
        except ValueError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
            return
        except OSError as err:  # the file could not be written: say so, keep the old one
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"could not save: {err}")
            return
        self._json(HTTPStatus.OK, result)


def _parse_index(text: str, n: int) -> int | None:
    if not text.isdigit() or len(text) > 9:
        return None
    index = int(text)
    return index if index < n else None


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
