"""A real local HTTP server standing in for an SMS gateway or a partner app.

Runs in a thread on a free port of 127.0.0.1 (`with Gateway() as gw:`). It records
every request and answers by a script: `gw.plan` maps a request's position (1-based
per idempotency key) to a status code, or "timeout" to stall past the client's
timeout. Like a real gateway it dedupes by `Idempotency-Key`: `gw.sent` counts a key
once however often it comes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    # (key, nth time seen) -> status code or "timeout"; default 200.
    plan: Callable[[str, int], int | str] = lambda key, nth: 200
    delay: float = 0.0
    port: int = 0  # 0: any free port; a fixed one lets a test bring the gateway back
    stall: float = 3.0
    requests: list[Seen] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # keys accepted, deduped
    attempts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                with gateway.lock:
                    gateway.requests.append(Seen(self.path, dict(self.headers), body))
                    gateway.attempts[key] += 1
                    nth = gateway.attempts[key]
                answer = gateway.plan(key, nth)
                if gateway.delay:
                    time.sleep(gateway.delay)
                if answer == "timeout":
                    time.sleep(gateway.stall)
                    answer = 200
                status = int(answer)
                if 200 <= status < 300:
                    with gateway.lock:
                        if key not in gateway.sent:
                            gateway.sent[key] = 1
                payload = b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/send"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
