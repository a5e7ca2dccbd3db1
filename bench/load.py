"""Closed-loop load: worker processes that repeat an operation for a fixed time.

Every worker is a forked process. All of them start at the same instant, run a
warm-up whose results are thrown away, then a measured window. An operation counts
when it started inside the window and finished before the window closed; throughput
is successful units over the window's length.

The HTTP client is a deliberately small HTTP/1.1 keep-alive client on raw sockets and
a selector loop (several connections per process): the machine running the benchmark
also runs the server and the database, so every microsecond the client spends is
taken from them. It only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import multiprocessing
import random
import selectors
import signal
import socket
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from bench.registry import DbCase, HttpCase, Request

if TYPE_CHECKING:
    from bench.leg import Leg

HOST = "127.0.0.1"
MAX_ERROR_SAMPLES = 5
# After the window closes, how long to wait for answers still in flight.
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class Schedule:
    """When the workers start, warm up, and stop (time.monotonic, shared by processes)."""

    start_at: float
    warmup: float
    seconds: float

    @property
    def measure_from(self) -> float:
        return self.start_at + self.warmup

    @property
    def end(self) -> float:
        return self.start_at + self.warmup + self.seconds


@dataclass
class WorkerReport:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    units: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    fatal: str | None = None

    def error(self, sample: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES and sample not in self.error_samples:
            self.error_samples.append(sample)


@dataclass
class Measurement:
    """One case measured on one leg: what the report shows."""

    seconds: float
    ops: int
    units: int
    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_samples: list[str]
    processes: int
    concurrency: int
    client_cpu_pct: float
    machine_busy_pct: float
    # How busy the machine was just before the case started (other people's work).
    background_busy_pct: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy(seconds: float = 1.0) -> float:
    """How busy all CPUs are over the next `seconds`, in percent."""
    busy_before, total_before = _cpu_times()
    time.sleep(seconds)
    busy_after, total_after = _cpu_times()
    return 100 * (busy_after - busy_before) / max(1, total_after - total_before)


def wait_until_quiet(limit_pct: float, patience: float) -> float:
    """Waits (up to `patience` seconds) for the machine to be under `limit_pct` busy
    for two seconds running, since another process's work would skew the figures.
    Returns the last reading; the caller reports it either way."""
    deadline = time.monotonic() + patience
    reading = machine_busy()
    while time.monotonic() < deadline:
        if reading < limit_pct:
            reading = max(reading, machine_busy())
            if reading < limit_pct:
                return reading
        reading = machine_busy()
    return reading


def run_workers(
    work: Callable[[int], WorkerReport], processes: int, schedule: Schedule, concurrency: int
) -> Measurement:
    """Forks `processes` workers running `work(index)`; aggregates their reports."""
    ctx = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    children = []
    for index in range(processes):
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_main, args=(work, index, sender), daemon=True)
        child.start()
        sender.close()
        pipes.append(receiver)
        children.append(child)

    _sleep_until(schedule.measure_from)
    busy_before, total_before = _cpu_times()
    _sleep_until(schedule.end)
    busy_after, total_after = _cpu_times()

    reports: list[WorkerReport] = []
    deadline = schedule.end + DRAIN_SECONDS + 30
    for index, (pipe, child) in enumerate(zip(pipes, children, strict=True)):
        if not pipe.poll(max(0.0, deadline - time.monotonic())):
            child.kill()
            raise RuntimeError(f"load worker {index} sent no report")
        try:
            report: WorkerReport = pipe.recv()
        except EOFError:
            raise RuntimeError(f"load worker {index} died (exit code {child.exitcode})") from None
        if report.fatal is not None:
            raise RuntimeError(f"load worker {index} failed:\n{report.fatal}")
        reports.append(report)
        child.join(10)

    latencies = sorted(value for report in reports for value in report.latencies)
    units = sum(report.units for report in reports)
    error_samples: list[str] = []
    for report in reports:
        for sample in report.error_samples:
            if sample not in error_samples and len(error_samples) < MAX_ERROR_SAMPLES:
                error_samples.append(sample)
    wall = schedule.warmup + schedule.seconds
    return Measurement(
        seconds=schedule.seconds,
        ops=len(latencies),
        units=units,
        rate=units / schedule.seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p95_ms=_percentile(latencies, 0.95) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        errors=sum(report.errors for report in reports),
        error_samples=error_samples,
        processes=processes,
        concurrency=concurrency,
        client_cpu_pct=100 * sum(report.cpu_seconds for report in reports) / wall,
        machine_busy_pct=100 * (busy_after - busy_before) / max(1, total_after - total_before),
    )


def _child_main(work: Callable[[int], WorkerReport], index: int, sender: Connection) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the leg's handler: just stop
    try:
        report = work(index)
    except BaseException:
        report = WorkerReport(fatal=traceback.format_exc())
    sender.send(report)
    sender.close()


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# --- Database work ---------------------------------------------------------------


def db_work(case: DbCase, leg: Leg, schedule: Schedule) -> Callable[[int], WorkerReport]:
    """The body of one DB worker: repeat the case's operation on its own connection."""

    def work(index: int) -> WorkerReport:
        report = WorkerReport()
        rng = random.Random(f"{case.id}:{leg.token}:{index}")
        cpu_start = time.process_time()
        with case.session(leg, index) as operation:
            _sleep_until(schedule.start_at)
            measure_from, end = schedule.measure_from, schedule.end
            seq = 0
            while True:
                started = time.monotonic()
                if started >= end:
                    break
                try:
                    units = operation(seq, rng)
                    failure = None
                except Exception as exc:
                    units, failure = 0, f"{type(exc).__name__}: {exc}"[:300]
                finished = time.monotonic()
                seq += 1
                if started < measure_from or finished > end:
                    continue
                if failure is not None:
                    report.error(failure)
                    continue
                report.latencies.append(finished - started)
                report.units += units
        report.cpu_seconds = time.process_time() - cpu_start
        return report

    return work


# --- HTTP work -------------------------------------------------------------------


def encode_request(request: Request, port: int) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Type: {request.content_type}")
        lines.append(f"Content-Length: {len(request.body)}")
    lines.extend(f"{name}: {value}" for name, value in request.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def parse_response(buf: bytearray) -> tuple[int, int, int, bool] | None:
    """(status, body start, response end, server closes) once `buf` holds a whole
    response, else None. Handles Content-Length and chunked bodies."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = "close" in value.lower()
    body_start = head_end + 4
    if not chunked:
        end = body_start + length
        return (status, body_start, end, close) if len(buf) >= end else None
    position = body_start
    while True:
        line_end = buf.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buf[position:line_end]).split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n", position)
            return None if trailer_end < 0 else (status, body_start, trailer_end + 2, close)
        if len(buf) < position + size + 2:
            return None
        position += size + 2


class _Client:
    """One keep-alive connection with at most one request in flight."""

    __slots__ = ("buf", "sent_at", "sock", "worker_pid")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.sent_at = 0.0
        self.worker_pid = self._ask_worker(port)
        self.sock.setblocking(False)

    def _ask_worker(self, port: int) -> str:
        """Which server worker accepted this connection (GET /bench/worker)."""
        self.sock.sendall(encode_request(Request("GET", "/bench/worker"), port))
        while (parsed := parse_response(self.buf)) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        status, body_start, response_end, _ = parsed
        if status != 200:
            raise ConnectionError(f"GET /bench/worker answered {status}")
        pid = bytes(self.buf[body_start:response_end]).decode("ascii", "replace")
        self.buf.clear()
        return pid

    def send(self, payload: bytes) -> None:
        self.buf.clear()
        self.sent_at = time.monotonic()
        sent = self.sock.send(payload)
        if sent < len(payload):
            self.sock.setblocking(True)
            self.sock.sendall(payload[sent:])
            self.sock.setblocking(False)


def _balanced_client(port: int, held: Counter[str], cap: int, attempts: int) -> _Client:
    """A new connection on a server worker holding fewer than `cap` of this process's
    connections. The kernel hands connections to workers at random: with 4 connections
    and 2 workers, 3-1 and 4-0 splits happen more often than 2-2, and leave a worker
    idle part of the time, so a run's figure would depend on luck."""
    for _ in range(attempts - 1):
        client = _Client(port)
        if held[client.worker_pid] < cap:
            return client
        client.sock.close()
    return _Client(port)  # give up balancing rather than fail


def http_work(
    case: HttpCase,
    port: int,
    connections_per_process: int,
    server_workers: int,
    schedule: Schedule,
    token: str,
) -> Callable[[int], WorkerReport]:
    """The body of one client process: drive several connections until the end."""

    def work(index: int) -> WorkerReport:
        report = WorkerReport()
        rng = random.Random(f"{case.id}:{token}:{index}")
        selector = selectors.DefaultSelector()
        seq = 0
        measure_from, end = schedule.measure_from, schedule.end

        def next_request() -> bytes:
            nonlocal seq
            seq += 1
            return encode_request(case.request(index, seq, rng), port)

        held: Counter[str] = Counter()
        cap = -(-connections_per_process // max(1, server_workers))

        def connect(attempts: int) -> _Client | None:
            try:
                client = _balanced_client(port, held, cap, attempts)
            except OSError as exc:
                if time.monotonic() >= measure_from:
                    report.error(f"connect: {exc}")
                time.sleep(0.01)
                return None
            held[client.worker_pid] += 1
            return client

        def start(client: _Client) -> bool:
            try:
                client.send(next_request())
            except OSError as exc:
                if time.monotonic() >= measure_from:
                    report.error(f"{type(exc).__name__}: {exc}")
                held[client.worker_pid] -= 1
                client.sock.close()
                return False
            selector.register(client.sock, selectors.EVENT_READ, client)
            return True

        def open_client() -> _Client | None:
            client = connect(attempts=10)
            return client if client is not None and start(client) else None

        def drop(client: _Client) -> None:
            held[client.worker_pid] -= 1
            selector.unregister(client.sock)
            client.sock.close()

        cpu_start = time.process_time()
        # Connect (and balance) before the common start; the warm-up absorbs any overrun.
        ready = [c for _ in range(connections_per_process) if (c := connect(attempts=50))]
        _sleep_until(schedule.start_at)
        active = sum(start(client) for client in ready)
        while time.monotonic() < end + DRAIN_SECONDS and (active or time.monotonic() < end):
            if active < connections_per_process and time.monotonic() < end:
                if open_client() is not None:
                    active += 1
                continue
            for key, _ in selector.select(timeout=0.5):
                client: _Client = key.data
                try:
                    data = client.sock.recv(65536)
                    if not data:
                        raise ConnectionError("server closed the connection")
                except OSError as exc:
                    if client.sent_at >= measure_from and time.monotonic() <= end:
                        report.error(f"{type(exc).__name__}: {exc}")
                    drop(client)
                    active -= 1
                    continue
                client.buf += data
                parsed = parse_response(client.buf)
                if parsed is None:
                    continue
                finished = time.monotonic()
                status, body_start, response_end, close = parsed
                if measure_from <= client.sent_at and finished <= end:
                    if 200 <= status < 300:
                        report.latencies.append(finished - client.sent_at)
                        report.units += 1
                    else:
                        body = bytes(client.buf[body_start:response_end][:200])
                        report.error(f"HTTP {status}: {body.decode('utf-8', 'replace')}")
                if close or finished >= end:
                    drop(client)
                    active -= 1
                    continue
                try:
                    client.send(next_request())
                except OSError as exc:
                    if finished >= measure_from:
                        report.error(f"{type(exc).__name__}: {exc}")
                    drop(client)
                    active -= 1
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()
        report.cpu_seconds = time.process_time() - cpu_start
        return report

    return work
