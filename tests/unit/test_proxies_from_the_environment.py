"""The transport works out the environment's proxies once per url and set of proxy variables
(a fleet's environment holds a credentials variable per account, and requests read all of
it three times per client), and still follows every change of those variables."""

from __future__ import annotations

import pytest
import requests

from hookctl.keap.transport import Connections, Transport, environ_proxies

URL = "https://api.example.com/crm/rest/v1"


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"HTTPS_PROXY": "http://proxy.example:3128"},
        {"https_proxy": "http://lower.example:3128", "NO_PROXY": "other.example"},
        {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "api.example.com"},
        {"ALL_PROXY": "socks5://socks.example:1080"},
    ],
)
def test_the_proxies_are_those_requests_would_use_and_follow_each_change(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert environ_proxies(URL) == requests.utils.get_environ_proxies(URL)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert environ_proxies(URL) == requests.utils.get_environ_proxies(URL)
    assert Transport(URL, None)._session.proxies == requests.utils.get_environ_proxies(URL)
    for index in range(50):
        monkeypatch.setenv(f"KEAP_KEY_{index:04d}", "unrelated")
    assert environ_proxies(URL) == requests.utils.get_environ_proxies(URL)


def test_shared_connections_take_the_proxies_as_the_run_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Connections(2) as connections:
        assert connections.proxies(URL) == requests.utils.get_environ_proxies(URL)
        transport = Transport(URL, None, connections=connections)
        assert transport._session.proxies["https"] == "http://proxy.example:3128"
        transport.close()
        # A variable set later reaches the clients of the next run, not of this one.
        monkeypatch.setenv("NO_PROXY", "api.example.com")
        assert connections.proxies(URL) != requests.utils.get_environ_proxies(URL)
    with Connections(2) as connections:
        assert connections.proxies(URL) == requests.utils.get_environ_proxies(URL)
