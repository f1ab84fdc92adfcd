"""The import record: one import of the certificates that already exist at a provider, with its
counters, its cursor into the provider's listing and its schedule (service/inventory.py runs it,
the store keeps it). Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

COUNTERS = ("pages", "found", "created", "updated", "unchanged", "skipped", "errors")
IMPORT_STATUSES = ("queued", "running", "completed", "failed")


def zero_counters() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


@dataclass
class ImportJob:
    """Mutable on purpose: a run updates it in place between conditional saves (`version`)."""

    id: str
    owner: str
    provider: str
    filters: dict[str, Any]
    status: str  # one of IMPORT_STATUSES
    started_at: str
    updated_at: str
    page_size: int | None = None
    version: int = 0
    counters: dict[str, int] = field(default_factory=zero_counters)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    cursor_token: str | None = None  # the token of the page being read (None: the first page)
    cursor_index: int = 0  # items of that page below which everything is handled
    cursor_done: list[int] = field(default_factory=list)  # indexes at/after cursor_index already handled
    run_started_at: str | None = None
    finished_at: str | None = None
    last_error: dict[str, Any] | None = None
    next_run_at: str | None = None  # None: never again (failed first run, superseded)
    runs: int = 0  # completed runs (the import itself, then each incremental sync)
    superseded_by: str | None = None

    def __post_init__(self) -> None:
        # Imports recorded before CA ids were integers everywhere hold "1": read them as 1.
        ca_id = self.filters.get("ca_id")
        if isinstance(ca_id, str) and ca_id.isdigit():
            self.filters = {**self.filters, "ca_id": int(ca_id)}

    @property
    def schedule_key(self) -> str:
        """Imports of the same owner, provider and filters share one recurring sync."""
        raw = json.dumps([self.owner, self.provider, self.filters], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "provider": self.provider, "filters": dict(self.filters),
            "page_size": self.page_size, "counters": dict(self.counters), "skipped": dict(self.skipped),
            "last_error": self.last_error, "runs": self.runs, "started_at": self.started_at,
            "run_started_at": self.run_started_at, "updated_at": self.updated_at,
            "finished_at": self.finished_at, "next_run_at": self.next_run_at, "superseded_by": self.superseded_by,
        }
