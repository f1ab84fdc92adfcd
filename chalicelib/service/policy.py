"""The knobs of the use cases and jobs. The composition root fills them from the settings
(chalicelib/config.py); the service never reads the environment itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.core.renewal import RenewalRules


@dataclass(frozen=True)
class Policy:
    poll_min_interval_s: int = 60
    poll_max_interval_s: int = 6 * 3600
    poll_concurrency_per_provider: int = 8
    poll_batch_limit: int = 2000
    poll_safety_margin_ms: int = 10_000
    reconcile_after_s: int = 300
    # Renewal windows and expiry notices relative to each certificate's lifetime (core/renewal.py).
    renewal: RenewalRules = field(default_factory=RenewalRules)
    # The sweeps (service/sweeps.py): the share of a provider's documented rate limits one
    # poll_pending run may use, and how often it runs (its schedule in app.py).
    poll_rate_share: float = 0.5
    poll_interval_s: float = 60.0
    renew_rate_share: float = 0.25  # renew_expiring's share (it runs every 15 min, beside poll_pending)
    renew_interval_s: float = 900.0
    # Certificates one renew_expiring run looks at (reading is cheap; the renewals themselves are
    # bounded by the time and the rate share): the walk over the fleet is one run per this many.
    renew_sweep_limit: int = 20_000
    sweep_backlog_peek: int = 200
    idempotency_ttl_s: int = 24 * 3600
    # How long one provider read may take (an unanswered create may still be running that long).
    provider_read_timeout_s: float = 20.0
    # The stage's ACM delivery default (CERTGATE_ACM_DEFAULT_REGION): every order whose key certgate
    # holds and that says nothing of `deliver_to` is imported into ACM there; None: opt-in only.
    acm_default_region: str | None = None
    admin_principals: tuple[str, ...] = ()
    # Imports (service/inventory.py): how long POST /imports works inline before leaving the rest
    # to sync_inventory (0: none), how many listed items are handled at once (provider round trips
    # dominate), and how often a completed import is re-run (per provider where set; hourly by
    # default, so that a certificate made at a provider's console shows within the hour, and
    # POST /imports/sync runs them at once). sync_inventory runs every 5 minutes (app.py): an
    # interval below that is rounded up to it.
    import_inline_s: float = 5.0
    import_concurrency: int = 4
    sync_interval_s: float = 3600.0
    sync_interval_s_by_provider: Mapping[str, float] = field(default_factory=dict)

    def sync_interval_for(self, provider: str) -> float:
        """How often a completed import of `provider` is re-run."""
        return self.sync_interval_s_by_provider.get(provider, self.sync_interval_s)
