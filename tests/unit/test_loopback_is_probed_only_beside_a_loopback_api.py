"""The rule plan --probe and probe share: loopback receivers are probed only when the API url
the credentials go to is on loopback (the sandbox); a url that does not parse is not."""

from __future__ import annotations

import pytest

from hookctl.domain.urls import address_refusal
from hookctl.engine.runner import loopback_api


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8787/crm/rest/v1", True),
        ("http://localhost:8787/crm/rest/v1", True),
        ("http://[::1]:8787/crm/rest/v1", True),
        (None, False),  # Keap's own API
        ("https://api.infusionsoft.com/crm/rest/v1", False),
        ("http://127.0.0.1.nip.io/crm/rest/v1", False),
        ("http://[::1/crm/rest/v1", False),  # does not parse
    ],
)
def test_only_a_loopback_api_url_lets_loopback_receivers_be_probed(
    url: str | None, expected: bool
) -> None:
    assert loopback_api(url) is expected


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::1"])
def test_a_loopback_address_is_refused_unless_loopback_is_allowed(address: str) -> None:
    assert address_refusal(address) == "a loopback address"
    assert address_refusal(address, loopback=True) is None


def test_allowing_loopback_allows_nothing_else() -> None:
    for address in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "::ffff:127.0.0.1"):
        assert address_refusal(address, loopback=True) is not None, address
