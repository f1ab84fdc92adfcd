"""Settings: read once from the environment, validated, safe defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config import Settings
from chalicelib.core.errors import ConfigError


def test_defaults_follow_the_stage_names():
    s = Settings.from_env({"CERTGATE_STAGE": "dev", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert s.table_name == "certgate-dev" and s.bucket_name == "certgate-dev-artifacts"
    assert [s.secret_name(p) for p in ("tinycert", "resello", "digicert", "acme-like")] == [
        "certgate/dev/tinycert", "certgate/dev/resello", "certgate/dev/digicert", "certgate/dev/acme-like"]
    assert s.region == "eu-west-1" and s.aws_endpoint_url is None and not s.is_local


def test_every_resource_name_is_overridable():
    env = {"CERTGATE_STAGE": "prod", "CERTGATE_TABLE": "t", "CERTGATE_BUCKET": "b", "CERTGATE_TOPIC_ARN": "arn:x",
           "CERTGATE_KMS_KEY_ID": "k", "CERTGATE_SECRET_DIGICERT": "s/d", "CERTGATE_POLL_CONCURRENCY": "3"}
    s = Settings.from_env(env)
    assert (s.table_name, s.bucket_name, s.topic_arn, s.kms_key_id) == ("t", "b", "arn:x", "k")
    assert s.secret_name("digicert") == "s/d" and s.secret_name("resello") == "certgate/prod/resello"
    assert s.policy.poll_concurrency_per_provider == 3


@pytest.mark.parametrize("env, message", [
    ({"CERTGATE_STAGE": "staging"}, "CERTGATE_STAGE"),
    ({"CERTGATE_STAGE": "dev", "CERTGATE_POLL_SHARDS": "four"}, "CERTGATE_POLL_SHARDS"),
    ({"CERTGATE_STAGE": "dev", "CERTGATE_PROVIDER_READ_TIMEOUT_S": "soon"}, "CERTGATE_PROVIDER_READ_TIMEOUT_S"),
    ({"CERTGATE_STAGE": "dev", "CERTGATE_DNS_ZONES": "example.com"}, "CERTGATE_DNS_ZONES"),
    ({"CERTGATE_STAGE": "dev", "CERTGATE_ACM_DEFAULT_REGION": "mars-1"}, "CERTGATE_ACM_DEFAULT_REGION"),
])
def test_bad_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_dns_zones_are_bare_hosted_zone_ids_once_each():
    s = Settings.from_env({"CERTGATE_STAGE": "prod", "CERTGATE_DNS_ZONES": " /hostedzone/Z1ABC, ,Z2DEF,Z1ABC"})
    assert s.dns_zone_ids == ("Z1ABC", "Z2DEF")
    assert Settings.from_env({"CERTGATE_STAGE": "prod"}).dns_zone_ids == ()


def test_admin_principals_are_a_clean_tuple():
    s = Settings.from_env({"CERTGATE_STAGE": "prod", "CERTGATE_ADMIN_PRINCIPALS": " a , ,b"})
    assert s.policy.admin_principals == ("a", "b")


def test_import_knobs_default_like_before_and_reach_the_policy():
    from chalicelib.bootstrap import policy

    cfg = policy(Settings.from_env({"CERTGATE_STAGE": "dev"}))
    assert (cfg.import_inline_s, cfg.import_concurrency, cfg.sync_interval_s) == (5.0, 4, 3600.0)
    assert cfg.sync_interval_for("tinycert") == 3600.0  # hourly by default


def test_import_knobs_are_read_from_their_variables_per_provider_too():
    from chalicelib.bootstrap import policy

    env = {"CERTGATE_STAGE": "dev", "CERTGATE_IMPORT_INLINE_S": "0", "CERTGATE_IMPORT_CONCURRENCY": "0",
           "CERTGATE_SYNC_INTERVAL_S": "600", "CERTGATE_SYNC_INTERVAL_S_TINYCERT": "300",
           "CERTGATE_SYNC_INTERVAL_S_ACME": "7", "CERTGATE_SYNC_INTERVAL_S_RESELLO": ""}
    cfg = policy(Settings.from_env(env))
    assert cfg.import_inline_s == 0 and cfg.import_concurrency == 1  # at least one worker
    assert cfg.sync_interval_for("tinycert") == 300 and cfg.sync_interval_for("resello") == 600
    assert cfg.sync_interval_for("acme") == 7  # any provider name, not a fixed list


@pytest.mark.parametrize("name", ["CERTGATE_IMPORT_INLINE_S", "CERTGATE_IMPORT_CONCURRENCY",
                                  "CERTGATE_SYNC_INTERVAL_S", "CERTGATE_SYNC_INTERVAL_S_DIGICERT"])
@pytest.mark.parametrize("raw", ["-1", "often"])
def test_bad_import_knobs_are_named(name, raw):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"CERTGATE_STAGE": "dev", name: raw})


def test_reading_the_settings_imports_no_provider_adapter():
    # Cold start: the secret names are computed per provider, so config needs no list of adapters.
    code = ("import sys, chalicelib.config as c; c.Settings.from_env({}).secret_name('resello'); "
            "print(sorted(m for m in sys.modules if m.startswith('chalicelib.providers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_the_stage_acm_default_region():
    assert Settings.from_env({"CERTGATE_STAGE": "prod"}).policy.acm_default_region is None
    s = Settings.from_env({"CERTGATE_STAGE": "prod", "CERTGATE_ACM_DEFAULT_REGION": " eu-central-1 "})
    assert s.policy.acm_default_region == "eu-central-1"


def test_the_secrets_adapter_uses_no_deprecated_powertools_parameter():
    """Powertools 3 deprecates SecretsProvider(config=...) (removed in 4): the adapter hands it a
    client that already carries region and endpoint."""
    import warnings

    import boto3
    from aws_lambda_powertools.warnings import PowertoolsDeprecationWarning

    from chalicelib.adapters.secrets import ProviderSecrets

    def client():
        return boto3.client("secretsmanager", region_name="eu-west-1", aws_access_key_id="x",
                            aws_secret_access_key="y")

    adapter = ProviderSecrets(client, lambda p: f"s/{p}", lambda: (), region="eu-west-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PowertoolsDeprecationWarning)
        provider = adapter._secrets_provider()
    assert provider.client.meta.region_name == "eu-west-1"
