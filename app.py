"""certgate: the Chalice app registers the HTTP blueprints (chalicelib/http/) and declares the
scheduled jobs; everything they do lives in chalicelib."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent

from chalicelib.bootstrap import run_job
from chalicelib.http import authorities, certificates, fallbacks, imports, service_routes
from chalicelib.http.routing import BINARY_TYPES

app = Chalice(app_name="certgate")
app.api.binary_types.extend(BINARY_TYPES)
for routes in (service_routes, certificates, authorities, imports):
    app.register_blueprint(routes.blueprint)
# Unknown paths and methods answer problem+json 404/405 (registered last: static routes win).
app.register_blueprint(fallbacks.blueprint_for(app.routes))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="poll_pending")
def poll_pending(event: CloudWatchEvent) -> dict[str, Any]:
    return run_job("poll_pending", event)


@app.schedule(Rate(15, unit=Rate.MINUTES), name="reconcile")
def reconcile(event: CloudWatchEvent) -> dict[str, Any]:
    return run_job("reconcile", event)


# Every 15 minutes: each run looks at a bounded part of the fleet from where the last one left
# (service/sweeps.py, CERTGATE_RENEW_SWEEP_LIMIT), so a renewal or notice that falls due is reached
# within (fleet / limit) runs, however many fall due the same day.
@app.schedule(Rate(15, unit=Rate.MINUTES), name="renew_expiring")
def renew_expiring(event: CloudWatchEvent) -> dict[str, Any]:
    return run_job("renew_expiring", event)


# Every 5 minutes: resumes running imports soon after a 429/time-out; each import's own re-sync
# interval (hourly by default: CERTGATE_SYNC_INTERVAL_S, per provider CERTGATE_SYNC_INTERVAL_S_<NAME>)
# decides when a finished one runs again, at the first run after it (so at most 5 minutes late).
# POST /imports/sync runs a provider's syncs on demand.
@app.schedule(Rate(5, unit=Rate.MINUTES), name="sync_inventory")
def sync_inventory(event: CloudWatchEvent) -> dict[str, Any]:
    return run_job("sync_inventory", event)
