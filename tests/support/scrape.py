"""Scraping a process's /metrics, /healthz and /readyz over HTTP."""

from __future__ import annotations

import httpx


def scrape(port: int, path: str) -> httpx.Response | None:
    """None while nothing listens yet."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def metric(text: str, name: str) -> float:
    """The value of the first sample whose line starts with ``name`` (labels included), or 0."""
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
