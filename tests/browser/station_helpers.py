"""Helpers for the station browser tests: log in by cookie, scan like a USB scanner,
read the station's state, and make a fake camera stream from a QR."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import segno
from PIL import Image

from tests.conftest import World


def log_in(page: Any, base_url: str, world: World, username: str) -> None:
    """Give the page's browser context the session of `username` (no login form)."""
    client = world.client_for(username)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": base_url,
            }
        ]
    )


def open_station(page: Any, path: str = "/station/") -> Any:
    response = page.goto(path)
    page.locator("[data-testid=station][data-ready=true]").wait_for()
    return response


def wait_offline_ready(page: Any) -> None:
    """The service worker controls the page and holds the shell."""
    page.locator("[data-testid=station][data-offline-ready=true]").wait_for()
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def scan(page: Any, text: str) -> None:
    """What a keyboard-wedge USB scanner does: type the code, then Enter.

    The scan box must already have the focus: a scanner types wherever it is.
    """
    focused = page.evaluate(
        """() => {
            // Remember which scan the banner shows, so a wait can tell the next one.
            window.__bannerBefore = document.querySelector('[data-testid=banner]').dataset.event;
            return document.activeElement === document.querySelector('[data-testid=scan-input]');
        }"""
    )
    if not focused:
        raise AssertionError("the scan box lost the focus")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def wait_confirmed(
    page: Any, *, name: str | None = None, kind: str | None = None, timeout: float = 30_000
) -> None:
    """Wait until the banner shows the server's answer to the last scan."""
    page.wait_for_function(
        """([name, kind]) => {
            const b = document.querySelector('[data-testid=banner]');
            return b.dataset.confirmed === 'true' && b.dataset.event !== window.__bannerBefore &&
                   (kind === null || b.dataset.kind === kind) &&
                   (name === null || b.querySelector('[data-testid=banner-name]').textContent === name);
        }""",
        arg=[name, kind],
        timeout=timeout,
    )


def banner(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => {
            const b = document.querySelector('[data-testid=banner]');
            const text = (id) => b.querySelector(`[data-testid=${id}]`).textContent;
            return {kind: b.dataset.kind, name: text('banner-name'), year: text('banner-year'),
                    count: text('banner-count'), message: text('banner-message')};
        }"""
    )


def count(page: Any) -> str:
    return str(
        page.evaluate(
            """() => document.querySelector('[data-testid=tube-count]').textContent + '/' +
                     document.querySelector('[data-testid=tube-limit]').textContent"""
        )
    )


def wait_count(page: Any, expected: str) -> None:
    page.wait_for_function(
        """n => document.querySelector('[data-testid=tube-count]').textContent + '/' +
               document.querySelector('[data-testid=tube-limit]').textContent === n""",
        arg=expected,
    )


def pending(page: Any) -> int:
    return int(page.get_by_test_id("pending-count").inner_text())


def wait_pending(page: Any, expected: int, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "n => document.querySelector('[data-testid=pending-count]').textContent === String(n)",
        arg=expected,
        timeout=timeout,
    )


def wait_banner(page: Any, *, name: str | None = None, kind: str | None = None) -> None:
    page.wait_for_function(
        """([name, kind]) => {
            const b = document.querySelector('[data-testid=banner]');
            return (kind === null || b.dataset.kind === kind) &&
                   (name === null || b.querySelector('[data-testid=banner-name]').textContent === name);
        }""",
        arg=[name, kind],
    )


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def write_y4m(path: Path, payload: str, *, width: int = 640, height: int = 480) -> Path:
    """A one-frame YUV4MPEG2 file showing the QR of `payload`, for Chromium's fake camera."""
    buffer = io.BytesIO()
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=10, border=4)
    symbol = Image.open(buffer).convert("L")
    side = min(width, height) - 40
    symbol = symbol.resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(symbol, ((width - side) // 2, (height - side) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        out.write(b"FRAME\n")
        out.write(y.tobytes())
        out.write(cb.resize(half).tobytes())
        out.write(cr.resize(half).tobytes())
    return path
