"""The client, its transport and the sandbox each take one settings object. `Keap(...)`'s
keywords still work, as README shows them, and a command line flag reaches the field it names."""

from __future__ import annotations

from dataclasses import fields

import pytest

from hookctl import Keap
from hookctl.cli.commands import main
from hookctl.keap.client import ClientOptions, ClientSettings, RetryPolicy
from hookctl.keap.transport import TransportSettings
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

URL = "http://127.0.0.1:9/crm/rest/v1"


def test_keaps_keywords_and_its_settings_object_make_the_same_client() -> None:
    retry = RetryPolicy(attempts=2)
    settings = ClientSettings(timeout=(1.0, 2.0), retry=retry, pool_size=3, max_wait=7.0)
    with (
        Keap(URL, env={}, timeout=(1.0, 2.0), retry=retry, pool_size=3, max_wait=7.0) as a,
        Keap(URL, env={}, settings=settings) as b,
    ):
        for keap in (a, b):
            assert (keap.timeout, keap.retry, keap.transport.max_wait) == ((1.0, 2.0), retry, 7.0)
    # A keyword replaces the one field it names.
    with Keap(URL, env={}, settings=ClientSettings(max_wait=7.0), max_wait=9.0) as keap:
        assert keap.transport.max_wait == 9.0


def test_every_setting_is_a_keyword_of_keap() -> None:
    names = {field.name for field in fields(ClientSettings)}
    assert names == set(ClientOptions.__annotations__)
    assert {field.name for field in fields(TransportSettings)} < names


def test_the_credential_variables_in_the_settings_choose_the_credential(
    sandbox: Sandbox, api_key: str
) -> None:
    env = {"ACME_KEY": api_key, "KEAP_API_KEY": "not-this-one"}
    with Keap(sandbox.api_url, env=env, settings=ClientSettings(api_key_env="ACME_KEY")) as keap:
        assert keap.list() == []
    with Keap(sandbox.api_url, env=env, api_key_env="ACME_KEY") as keap:
        assert keap.list() == []


def test_the_sandbox_takes_what_its_settings_say() -> None:
    settings = SandboxSettings(api_key=None, access_token="tok-1", daily_quota=2)
    with Sandbox(settings) as sb:
        assert sb.settings is settings
        env = {"KEAP_ACCESS_TOKEN": "tok-1"}
        with Keap(sb.api_url, env=env, retry=RetryPolicy(attempts=1)) as keap:
            keap.list()
            keap.list()
            assert keap.quota is not None and (keap.quota.limit, keap.quota.available) == (2, 0)


def test_each_sandbox_flag_reaches_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[SandboxSettings] = []
    monkeypatch.setattr("hookctl.sandbox.serve", lambda settings, announce: served.append(settings))
    argv = ["sandbox", "--host", "127.0.0.2", "--port", "8999", "--db", ":memory:"]
    argv += ["--api-key", "k-1", "--access-token", "t-1", "--latency", "0.5"]
    argv += ["--error-rate", "0.25", "--throttle-rate", "3", "--daily-quota", "40"]
    argv += ["--handshake-timeout", "2", "--allow-outbound", "--time-scale", "0.01"]
    argv += ["--payload-shape", "field"]
    assert main(argv) == 0
    assert served == [
        SandboxSettings(
            host="127.0.0.2",
            port=8999,
            db=":memory:",
            api_key="k-1",
            access_token="t-1",
            faults=Faults(latency=0.5, error_rate=0.25, throttle_rate=3.0),
            handshake_timeout=2.0,
            allow_outbound=True,
            daily_quota=40,
            time_scale=0.01,
            payload_shape="field",
        )
    ]
