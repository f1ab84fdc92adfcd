"""certgate: routes and schedules only. Everything they do lives in chalicelib."""

from __future__ import annotations

from chalice import Chalice, IAMAuthorizer, Rate

from chalicelib.http.api import ANY_CONTENT, BINARY_TYPES, Api, register_fallbacks

app = Chalice(app_name="certgate")
# Deployed: API Gateway verifies SigV4 and hands us the caller's IAM identity (design.md section 6).
# chalice local and chalice.test skip IAM authorizers; there X-Certgate-Principal stands in.
IAM = IAMAuthorizer()
app.api.binary_types.extend(BINARY_TYPES)
api = Api(app)


# -- service --------------------------------------------------------------------------------------
@app.route("/health", methods=["GET"], content_types=ANY_CONTENT)
@api.handler
def health():
    return api.health()


@app.route("/providers", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def providers():
    return api.providers()


@app.route("/openapi.json", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def openapi():
    return api.openapi()


# -- certificates ---------------------------------------------------------------------------------
@app.route("/certificates", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def order_certificate():
    return api.order()


@app.route("/certificates", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def list_certificates():
    return api.list_certificates()


@app.route("/certificates/{cert_id}", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def get_certificate(cert_id):
    return api.get_certificate(cert_id)


@app.route("/certificates/{cert_id}", methods=["DELETE"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def cancel_certificate(cert_id):
    return api.cancel(cert_id)


@app.route("/certificates/{cert_id}/refresh", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def refresh_certificate(cert_id):
    return api.refresh(cert_id)


@app.route("/certificates/{cert_id}/reissue", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def reissue_certificate(cert_id):
    return api.reissue(cert_id)


@app.route("/certificates/{cert_id}/renew", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def renew_certificate(cert_id):
    return api.renew(cert_id)


@app.route("/certificates/{cert_id}/revoke", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def revoke_certificate(cert_id):
    return api.revoke(cert_id)


@app.route("/certificates/{cert_id}/validate", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def retry_validation(cert_id):
    return api.retry_validation(cert_id)


@app.route("/certificates/{cert_id}/validation", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def validation_details(cert_id):
    return api.validation(cert_id)


@app.route("/certificates/{cert_id}/download", methods=["GET", "POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def download_certificate(cert_id):
    return api.download(cert_id)


@app.route("/certificates/{cert_id}/events", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def certificate_events(cert_id):
    return api.events(cert_id)


# -- TinyCert certificate authorities ---------------------------------------------------------------
@app.route("/providers/tinycert/authorities", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def list_authorities():
    return api.list_authorities()


@app.route("/providers/tinycert/authorities", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def create_authority():
    return api.create_authority()


@app.route("/providers/tinycert/authorities/{ca_id}", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def get_authority(ca_id):
    return api.get_authority(ca_id)


@app.route("/providers/tinycert/authorities/{ca_id}", methods=["DELETE"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def delete_authority(ca_id):
    return api.delete_authority(ca_id)


# -- imports --------------------------------------------------------------------------------------
@app.route("/imports", methods=["POST"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def start_import():
    return api.start_import()


@app.route("/imports/{import_id}", methods=["GET"], content_types=ANY_CONTENT, authorizer=IAM)
@api.handler
def get_import(import_id):
    return api.get_import(import_id)


# -- scheduled jobs ---------------------------------------------------------------------------------
@app.schedule(Rate(1, unit=Rate.MINUTES), name="poll_pending")
def poll_pending(event):
    return api.run_job("poll_pending", event)


@app.schedule(Rate(15, unit=Rate.MINUTES), name="reconcile")
def reconcile(event):
    return api.run_job("reconcile", event)


@app.schedule(Rate(1, unit=Rate.DAYS), name="renew_expiring")
def renew_expiring(event):
    return api.run_job("renew_expiring", event)


# Every 5 minutes: resumes running imports soon after a 429/time-out; each import's own re-sync
# interval (daily by default, CERTGATE_SYNC_INTERVAL_S) decides when a finished one runs again.
@app.schedule(Rate(5, unit=Rate.MINUTES), name="sync_inventory")
def sync_inventory(event):
    return api.run_job("sync_inventory", event)


# Unknown paths and methods answer problem+json 404/405 (declared last: static routes win).
register_fallbacks(app, api, authorizer=IAM)
