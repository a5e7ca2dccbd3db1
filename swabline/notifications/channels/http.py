"""Keep-alive HTTP/1.1 POSTs from many threads: one connection per thread and origin.

A small client on plain sockets rather than `http.client`: at 2,000 messages/s on
two shared cores, `http.client`'s header handling (`email.parser`) cost more CPU
than everything else in the worker. It speaks what gateways and webhooks need: a
POST with a body, answers with Content-Length, chunked or read-to-close bodies,
`Connection: close`, TLS for https (system trust store, hostname checked).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from urllib.parse import urlsplit

Origin = tuple[str, str, int]


class ProtocolError(OSError):
    """The server's answer is not HTTP we understand (a gateway fault: retried)."""


class _Connection:
    def __init__(self, origin: Origin, timeout: float) -> None:
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.buffer = b""
        self.host_header = host if port in (80, 443) else f"{host}:{port}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ProtocolError("connection closed mid-body")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if not self._fill():
                raise ProtocolError("connection closed mid-line")
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        """Send one request, read its answer: (status, body, keep the connection?)."""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if not self._fill():
                raise ConnectionResetError("closed before answering")
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("not an HTTP answer")
        status = int(parts[1])
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _colon, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        keep = fields.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            data = self._chunked()
        elif "content-length" in fields:
            data = self._take(int(fields["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            data = b""
        else:  # read to close
            while self._fill():
                pass
            data, self.buffer, keep = self.buffer, b"", False
        return status, data, keep

    def _chunked(self) -> bytes:
        out: list[bytes] = []
        while True:
            size = int(self._line().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._line():  # trailers up to the empty line
                    pass
                return b"".join(out)
            out.append(self._take(size))
            self._take(2)


class HttpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()

    def _connections(self) -> dict[Origin, _Connection]:
        conns: dict[Origin, _Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST and read the answer. A kept-alive connection the server closed in the
        meantime is retried once on a fresh one (safe: every message carries its
        idempotency key). Raises OSError: timeouts, refusals, broken answers."""
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        origin = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conns = self._connections()
        for attempt in (0, 1):
            reused = origin in conns
            conn = conns.get(origin) or self._open(origin)
            conns[origin] = conn
            try:
                status, data, keep = conn.post(path, body, headers)
            except (TimeoutError, ProtocolError):
                self._drop(origin, conn)
                raise
            except OSError:
                self._drop(origin, conn)
                if attempt or not reused:
                    raise
                continue
            if not keep:
                self._drop(origin, conn)
            return status, data
        raise AssertionError("unreachable")

    def _open(self, origin: Origin) -> _Connection:
        conn = _Connection(origin, self.timeout)
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, origin: Origin, conn: _Connection) -> None:
        conn.close()
        self._connections().pop(origin, None)
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
