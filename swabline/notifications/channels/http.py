"""Keep-alive HTTP/1.1 POSTs from many threads: one connection per thread and origin.

`http.client` is enough: the cost at 2,000 messages/s is the round trip, not the
client, as long as connections are reused and several are in flight at once (the
worker's thread pool).
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

Connection = http.client.HTTPConnection


class HttpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    def _connections(self) -> dict[tuple[str, str, int], Connection]:
        conns: dict[tuple[str, str, int], Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST and read the answer. A kept-alive connection the server closed in the
        meantime is retried once on a fresh one (safe: every message carries its
        idempotency key). Raises OSError (timeouts, refused) or http.client errors."""
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conns = self._connections()
        for attempt in (0, 1):
            reused = key in conns
            conn = conns.get(key) or self._open(*key)
            conns[key] = conn
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError:
                self._drop(key, conn)
                raise
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self._drop(key, conn)
                if attempt or not reused:
                    raise
                continue
            if response.will_close:
                self._drop(key, conn)
            return response.status, data
        raise AssertionError("unreachable")

    def _open(self, scheme: str, host: str, port: int) -> Connection:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.timeout)
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, key: tuple[str, str, int], conn: Connection) -> None:
        conn.close()
        self._connections().pop(key, None)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
