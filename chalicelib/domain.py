"""The certificate domain: statuses, transitions, revisions and events. Pure: no I/O."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Normalized statuses. SUBMITTING is internal and shown to callers as pending."""

    SUBMITTING = "submitting"
    PENDING = "pending"
    ISSUED = "issued"
    FAILED = "failed"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def public(self) -> str:
        return "pending" if self is Status.SUBMITTING else self.value
