"""Which API url a client calls: --api-url, then $KEAP_API_URL, then the hooks.yaml account's
`api_url`, then Keap's own, decided by one function whoever builds the client."""

from __future__ import annotations

import pytest

from hookctl.domain.models import DEFAULT_API_URL, Account
from hookctl.engine import runner
from hookctl.engine.runner import Options
from hookctl.keap.client import Keap, resolve_api_url

FLAG = "http://127.0.0.1:9/flag/crm/rest/v1"
ENV = "http://127.0.0.1:9/env/crm/rest/v1"
ACCOUNT = "http://127.0.0.1:9/account/crm/rest/v1"


@pytest.mark.parametrize(
    ("flag", "environment", "account", "expected"),
    [
        (FLAG, ENV, ACCOUNT, FLAG),
        (None, ENV, ACCOUNT, ENV),
        (None, None, ACCOUNT, ACCOUNT),
        (None, None, None, DEFAULT_API_URL),
        ("", "", ACCOUNT, ACCOUNT),  # an empty value counts as unset
        (FLAG, None, None, FLAG),
    ],
)
def test_the_flag_beats_the_environment_which_beats_hooks_yaml_which_beats_keaps_url(
    flag: str | None, environment: str | None, account: str | None, expected: str
) -> None:
    environ = {} if environment is None else {"KEAP_API_URL": environment}
    assert resolve_api_url(flag, account, environ) == expected


@pytest.mark.parametrize(
    ("flag", "environment", "account", "expected"),
    [
        (FLAG, ENV, ACCOUNT, FLAG),
        (None, ENV, ACCOUNT, ENV),
        (None, None, ACCOUNT, ACCOUNT),
        (None, None, None, DEFAULT_API_URL),
    ],
)
def test_the_runner_builds_each_accounts_client_on_the_same_order(
    flag: str | None,
    environment: str | None,
    account: str | None,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if environment is None:
        monkeypatch.delenv("KEAP_API_URL", raising=False)
    else:
        monkeypatch.setenv("KEAP_API_URL", environment)
    options = Options(api_url=flag)
    assert runner.api_url(options, Account(api_url=account)) == expected
    with runner.client(options, Account(api_url=account)) as keap:
        assert keap.api_url == expected.rstrip("/")


def test_a_library_client_reads_keap_api_url_from_the_environment_it_is_given() -> None:
    with Keap(env={"KEAP_API_URL": ENV}) as keap:
        assert keap.api_url == ENV
    with Keap(FLAG, env={"KEAP_API_URL": ENV}) as keap:
        assert keap.api_url == FLAG
    with Keap(env={}) as keap:
        assert keap.api_url == DEFAULT_API_URL.rstrip("/")


def test_the_sandbox_commands_fall_back_to_the_sandbox_not_to_keap() -> None:
    sandbox = "http://127.0.0.1:8787/crm/rest/v1"
    assert resolve_api_url(None, env={}, default=sandbox) == sandbox
    assert resolve_api_url(None, env={"KEAP_API_URL": ENV}, default=sandbox) == ENV
    assert resolve_api_url(FLAG, env={"KEAP_API_URL": ENV}, default=sandbox) == FLAG
