"""Dependency checks for GET /health: each check is a ping of one port (table, bucket, topic,
provider secrets), run concurrently; each reports 'ok' or the dependency's error code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from chalicelib.core.errors import DependencyFailed


def check(checks: Mapping[str, Callable[[], None]]) -> tuple[bool, dict[str, str]]:
    """Run every check concurrently; each reports 'ok' or 'error: <code>' (never a secret)."""

    def run(item: tuple[str, Callable[[], None]]) -> tuple[str, str]:
        name, fn = item
        try:
            fn()
        except DependencyFailed as exc:
            return name, f"error: {exc.code}"
        return name, "ok"

    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        results = dict(pool.map(run, checks.items()))
    return all(v == "ok" for v in results.values()), results
