"""The worker's small HTTP client against http.server: keep-alive, chunked bodies,
servers that close, and a kept-alive connection the server dropped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from swabline.notifications.channels.http import HttpClient


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.connections.add(id(self.connection))
        if self.path == "/chunked":
            self.send_response(202)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"he", b"llo"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(400 if self.path == "/bad" else 200)
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.connections = set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_keep_alive_reuses_one_connection(server):
    client = HttpClient(timeout=2)
    for i in range(3):
        assert client.post(f"{server}/ok", f"m{i}".encode(), {}) == (200, f"m{i}".encode())
    assert len(Handler.connections) == 1
    assert client.post(f"{server}/bad", b"x", {})[0] == 400
    client.close()


def test_chunked_and_closing_answers(server):
    client = HttpClient(timeout=2)
    assert client.post(f"{server}/chunked", b"x", {}) == (202, b"hello")
    assert client.post(f"{server}/close", b"bye", {}) == (200, b"bye")
    assert client.post(f"{server}/ok", b"again", {}) == (200, b"again")
    client.close()


def test_a_connection_dropped_by_the_server_is_reopened(server):
    client = HttpClient(timeout=2)
    client.post(f"{server}/ok", b"1", {})
    for conn in client._connections().values():
        conn.sock.shutdown(2)  # as if the server had timed the idle connection out
    assert client.post(f"{server}/ok", b"2", {}) == (200, b"2")
    client.close()
