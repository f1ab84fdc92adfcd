"""Owners are stable role ARNs, account included: callers from other accounts (the API resource
policy of infra/resources.yaml lets them in) own what they order under their own account's role."""

from __future__ import annotations

import pytest

from chalicelib.core.principals import owner_of, stable_principal

A, B = "111111111111", "222222222222"


def test_an_assumed_role_session_of_another_account_is_that_accounts_role():
    assert stable_principal(f"arn:aws:sts::{B}:assumed-role/deployer/i-0abc123") == f"arn:aws:iam::{B}:role/deployer"


def test_the_same_role_name_in_two_accounts_is_two_owners():
    a = owner_of(f"arn:aws:sts::{A}:assumed-role/certs/session-1", {})
    b = owner_of(f"arn:aws:sts::{B}:assumed-role/certs/session-1", {})
    assert a == f"arn:aws:iam::{A}:role/certs" and b == f"arn:aws:iam::{B}:role/certs"
    assert a != b


def test_sessions_of_one_cross_account_role_are_one_owner():
    sessions = [f"arn:aws:sts::{B}:assumed-role/certs/{name}" for name in ("ci-run-1", "ci-run-2", "alice@example.com")]
    assert {owner_of(s, {}) for s in sessions} == {f"arn:aws:iam::{B}:role/certs"}


@pytest.mark.parametrize("partition", ["aws-us-gov", "aws-cn"])
def test_other_partitions_keep_their_partition(partition):
    assert stable_principal(f"arn:{partition}:sts::{B}:assumed-role/certs/s") == f"arn:{partition}:iam::{B}:role/certs"


def test_a_team_names_members_of_several_accounts():
    groups = {f"arn:aws:iam::{A}:role/certs": "platform", f"arn:aws:iam::{B}:role/certs": "platform"}
    assert owner_of(f"arn:aws:sts::{B}:assumed-role/certs/s", groups) == "group:platform"
    # A third account's role of the same name is not in the team.
    assert owner_of("arn:aws:sts::333333333333:assumed-role/certs/s", groups) == "arn:aws:iam::333333333333:role/certs"


@pytest.mark.parametrize("arn", [
    f"arn:aws:iam::{B}:user/alice",  # an IAM user of another account: already stable
    f"arn:aws:sts::{B}:federated-user/bob",
    f"arn:aws:iam::{B}:root",
])
def test_other_principals_are_kept_as_they_are(arn):
    assert stable_principal(arn) == arn


def test_a_session_arn_that_is_not_of_an_account_is_not_rewritten():
    # Not 12 digits: not an account, so not turned into some account's role.
    odd = "arn:aws:sts::12345:assumed-role/certs/s"
    assert stable_principal(odd) == odd
