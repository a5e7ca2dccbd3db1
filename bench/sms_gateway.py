"""A fast stand-in SMS gateway for the notification benchmark: `python -m
bench.sms_gateway PORT`.

An asyncio server speaking just enough HTTP/1.1 (keep-alive POSTs with a
Content-Length) to answer every request `200 {"ok":true}` at once. It runs in a
process of its own so that it does not share the worker's GIL; on this machine it
answers well over 10,000 requests/s, so the benchmark measures the worker. It counts
requests and distinct idempotency keys and prints both when stopped (SIGTERM).
"""

from __future__ import annotations

import asyncio
import signal
import sys

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{"ok":true}'
)


class Stats:
    requests = 0
    keys: set[bytes] = set()


class Gateway(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(
                    head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]
                )
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            key_at = head.find(b"idempotency-key:")
            if key_at >= 0:
                line_end = head.find(b"\r\n", key_at)
                Stats.keys.add(head[key_at + 16 : line_end if line_end > 0 else None].strip())
            Stats.requests += 1
            self.buffer = self.buffer[total:]
            self.transport.write(RESPONSE)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Gateway, "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(f"requests {Stats.requests} keys {len(Stats.keys)}", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
