"""Route 53 DNS validation, automatic (issue 19 item 1).

At order time (`plan_order`) each domain is matched to the allowed hosted zone whose name is its
longest suffix (a wildcard by its base name); domains in none stay manual, as before. Then every
poll of a pending order (`step`, from CertificateService.refresh) moves each automated domain on,
and is safe to repeat:

  1. read what the provider wants published (Provider.validation: DigiCert's `_dnsauth` TXT or
     CNAME with the dcv-random-value, Resello's record from validation-details) and UPSERT it —
     again whenever the provider's value changed (an expired DigiCert random value);
  2. wait (bounded) for the change to be INSYNC; not yet: the next poll looks again;
  3. once every automated domain is in sync, ask the provider to check (Provider.retry_validation:
     check-dcv / validate) and record which domains it reports validated.

The refresh then follows the order as always. When the order ends (issued, failed, cancelled...)
the records are deleted (`after_saved`). A domain that cannot be automated gets an `error`
(shown on GET /certificates/{id}/validation), a `certificate.dcv_failed` event and the metric
`DcvAutomationFailures` once per distinct reason; it can still be validated by hand."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.core import dns
from chalicelib.core.dns import DnsAutomation, DomainProgress, fqdn
from chalicelib.core.errors import CertgateError, ConcurrentModification, FieldError, ProviderError, ValidationFailed
from chalicelib.core.model import Certificate, Event, Status
from chalicelib.core.provider import DcvDetail
from chalicelib.observability import count
from chalicelib.service.ports import Provider

if TYPE_CHECKING:
    from chalicelib.service.certificates import CertificateService
    from chalicelib.service.requests import OrderSpec

log = logging.getLogger("certgate.service")
FAILED_EVENT = "certificate.dcv_failed"
METRIC = "DcvAutomationFailures"


def domains_of(common_name: str, sans: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[str]:
    return list(dict.fromkeys([common_name, *(v for t, v in sans if t == "dns")]))


def plan_order(svc: CertificateService, spec: OrderSpec) -> DnsAutomation | None:
    """Which domains of a new order are validated through Route 53; a 422 when automation was asked
    for explicitly and cannot be had (no zone allowed, a zone not allowed, a domain in no zone)."""
    if spec.dns_mode == "off":
        return None
    explicit = spec.dns_mode == "on"
    if svc.dns is None:
        if explicit:
            raise ValidationFailed([FieldError("dns_automation", "no Route 53 hosted zone is allowed for "
                                                                 "automation on this stage (CERTGATE_DNS_ZONES)")])
        return None
    try:
        zones = list(svc.dns.zones())
    except CertgateError:
        if explicit:
            raise  # DependencyFailed -> 503 before anything is written
        log.warning("Route 53 zones unreadable: the first poll plans the order's DNS automation")
        return DnsAutomation(mode=spec.dns_mode, zone_id=spec.dns_zone_id, revision=0)  # replanned by step()
    allowed = ", ".join(f"{z.zone_id} ({z.name})" for z in zones) or "none"
    if spec.dns_zone_id and spec.dns_zone_id not in {z.zone_id for z in zones}:
        raise ValidationFailed([FieldError("dns_automation.zone_id",
                                           f"is not a zone certgate may manage (allowed: {allowed})")])
    planned = dns.plan(domains_of(spec.common_name, spec.sans), zones, mode=spec.dns_mode, zone_id=spec.dns_zone_id)
    outside = [d.domain for d in planned.domains if not d.automated]
    if explicit and outside:
        where = f"zone {spec.dns_zone_id}" if spec.dns_zone_id else "any Route 53 zone certgate may manage"
        raise ValidationFailed([FieldError("dns_automation", f"{', '.join(outside)} not in {where} "
                                                             f"(allowed: {allowed})")])
    return planned if planned.automated else None


def replanned(svc: CertificateService, cert: Certificate, auto: DnsAutomation) -> DnsAutomation:
    """A reissue or renewal validates again, possibly other names: a fresh plan for `cert.revision`."""
    if svc.dns is None:
        return replace(auto, revision=cert.revision, domains=())
    names = domains_of(cert.common_name, tuple((s.type, s.value) for s in cert.sans))
    return dns.plan(names, list(svc.dns.zones()), mode=auto.mode, zone_id=auto.zone_id, revision=cert.revision)


def step(svc: CertificateService, cert: Certificate, provider: Provider, actor: str) -> Certificate:
    """Move the automated domains of a pending order on by one poll (see the module doc); `cert` as saved."""
    auto = cert.dns_automation
    if (auto is None or auto.mode == "off" or svc.dns is None or cert.status is not Status.PENDING
            or not cert.provider_order_id):
        return cert
    try:
        if auto.revision != cert.revision:
            auto = replanned(svc, cert, auto)
        if all(d.validated for d in auto.automated):
            return _saved(svc, cert, auto, actor)
        details = {fqdn(d.domain): d for d in provider.validation(cert.provider_order_id)}
        auto = _write(svc, auto, details)
        auto = _sync(svc, auto)
        waiting = [d for d in auto.automated if not d.validated and d.error is None]
        if waiting and all(d.in_sync for d in waiting):
            checked = _check(provider, cert.provider_order_id, auto, waiting)
            for d in waiting:
                seen = checked.get(fqdn(d.domain))
                auto = auto.with_domain(replace(d, checked=True, validated=bool(seen and seen.state == "valid")))
    except ProviderError as exc:
        if exc.retryable:
            return _saved(svc, cert, auto, actor) if auto.revision == cert.revision else cert  # next poll
        auto = _stuck(auto, f"provider: {exc.code}: {exc.message}")
    except CertgateError as exc:  # DependencyFailed from Route 53
        auto = _stuck(auto, f"route53: {getattr(exc, 'code', type(exc).__name__)}")
    return _saved(svc, cert, auto, actor)


def _check(provider: Provider, order_id: str, auto: DnsAutomation,
           waiting: list[DomainProgress]) -> dict[str, DcvDetail]:
    """Ask the provider to check. With manual domains in the order too, one domain at a time, so
    that a provider that restarts the validation of the domains it is asked about (Resello's
    validate) leaves the others alone; DigiCert checks the whole order either way."""
    if all(d.automated for d in auto.domains):
        return {fqdn(d.domain): d for d in provider.retry_validation(order_id)}
    out: dict[str, DcvDetail] = {}
    for d in waiting:
        out.update({fqdn(x.domain): x for x in provider.retry_validation(order_id, domain=d.domain)})
    return out


def _write(svc: CertificateService, auto: DnsAutomation, details: dict[str, DcvDetail]) -> DnsAutomation:
    """Take the provider's record for each automated domain; UPSERT those not written as they are."""
    zones = {z.zone_id: z for z in svc.dns.zones()} if svc.dns else {}
    for d in auto.automated:
        detail = details.get(fqdn(d.domain))
        if detail is not None and detail.state == "valid":
            auto = auto.with_domain(replace(d, validated=True, error=None))
            continue
        if detail is None or detail.method != "dns" or not (detail.dns_record_name and detail.dns_value):
            why = "the provider lists no DNS record for this domain" + (
                f" (its method is {detail.method})" if detail is not None and detail.method != "dns" else "")
            auto = auto.with_domain(replace(d, error=why))
            continue
        rtype = (detail.dns_record_type or "TXT").upper()
        zone = zones.get(d.zone_id or "")
        if rtype not in dns.RECORD_TYPES:
            auto = auto.with_domain(replace(d, error=f"record type {rtype} is not automated"))
            continue
        if zone is None or not zone.holds(detail.dns_record_name):
            auto = auto.with_domain(replace(d, error=f"record {detail.dns_record_name} is outside zone {d.zone_id}"))
            continue
        same = (d.record_name, d.record_type, d.record_value) == (fqdn(detail.dns_record_name), rtype, detail.dns_value)
        if not same:  # new, or the provider's value changed: written again, checked again
            d = replace(d, record_name=fqdn(detail.dns_record_name), record_type=rtype, record_value=detail.dns_value,
                        written=False, in_sync=False, checked=False, change_id=None)
        auto = auto.with_domain(replace(d, error=None))
    todo = [d for d in auto.automated if not d.written and d.record_name and d.error is None]
    if not todo:
        return auto
    wanted = {(d.zone_id, d.record_name, d.record_type) for d in todo}
    for key, record in dns.records(d for d in auto.automated if d.error is None and not d.validated).items():
        if key not in wanted:
            continue
        change_id = svc.dns.upsert(key[0], record) if svc.dns else None
        for d in auto.automated:
            if (d.zone_id, d.record_name, d.record_type) == key and not d.validated:
                auto = auto.with_domain(replace(d, written=True, in_sync=False, change_id=change_id))
    return auto


def _sync(svc: CertificateService, auto: DnsAutomation) -> DnsAutomation:
    pending = {d.change_id for d in auto.automated if d.written and not d.in_sync and d.change_id}
    synced = {change_id for change_id in pending if svc.dns is not None and svc.dns.in_sync(change_id)}
    for d in auto.automated:
        if d.change_id in synced:
            auto = auto.with_domain(replace(d, in_sync=True))
    return auto


def _stuck(auto: DnsAutomation, reason: str) -> DnsAutomation:
    for d in auto.automated:
        if not d.validated:
            auto = auto.with_domain(replace(d, error=reason[:300]))
    return auto


def _saved(svc: CertificateService, cert: Certificate, auto: DnsAutomation, actor: str) -> Certificate:
    if auto == cert.dns_automation:
        return cert
    after = cert.updated(svc.clock(), dns_automation=auto)
    before = cert.dns_automation
    events: list[Event] = []
    for d in auto.automated:
        old = before.progress(d.domain) if before and before.revision == auto.revision else None
        if d.error and (old is None or old.error != d.error):
            events.append(svc.event_for(cert, after, actor, kind=FAILED_EVENT, domain=d.domain, zone_id=d.zone_id,
                                        error=d.error))
            count(METRIC, 1, provider=cert.provider)
            log.warning("DNS validation automation stuck", extra={"certificate_id": cert.id, "domain": d.domain,
                                                                  "error": d.error})
    try:
        return svc.save(after, events)
    except ConcurrentModification:
        return svc.store.get(cert.id) or cert  # someone moved it meanwhile: the next poll goes on


def after_saved(svc: CertificateService, cert: Certificate) -> Certificate:
    """The order ended (issued, failed, cancelled, ...): delete the validation records it wrote;
    `cert` as saved after. A failed delete is logged and counted, and left (the order stands)."""
    auto = cert.dns_automation
    if auto is None or svc.dns is None or cert.status in (Status.PENDING, Status.SUBMITTING):
        return cert
    left = [d for d in auto.automated if d.written and not d.removed]
    if not left:
        return cert
    for (zone_id, _name, _type), record in dns.records(left).items():
        try:
            svc.dns.delete(zone_id, record)
        except CertgateError as exc:
            log.warning("validation record not removed", extra={"certificate_id": cert.id, "record": record.name,
                                                                 "error": getattr(exc, "code", "")})
            count(METRIC, 1, provider=cert.provider)
            return cert
    issued = cert.status is Status.ISSUED  # issuance proves every domain validated
    for d in left:
        auto = auto.with_domain(replace(d, removed=True, validated=d.validated or issued, error=None if issued
                                        else d.error))
    try:
        return svc.save(cert.updated(svc.clock(), dns_automation=auto))
    except ConcurrentModification:
        return cert


def progress_by_domain(cert: Certificate) -> dict[str, DomainProgress]:
    auto = cert.dns_automation
    if auto is None or auto.revision != cert.revision:
        return {}
    return {fqdn(d.domain): d for d in auto.automated}
