"""Rules that used to be written two or three times, each now defined once and the same
everywhere: event wildcards, key order, loopback hosts, the copy of a pair that is kept."""

from __future__ import annotations

import logging

import pytest
from helpers.work import counted
from hypothesis import given
from hypothesis import strategies as st

from hookctl.domain import secrets
from hookctl.domain.models import Hook, event_glob_matches, keeper, key_order, parse_status
from hookctl.domain.urls import is_loopback, mask_url, under_prefix
from hookctl.keap.client import Keap


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("invoice.*", "invoice.add", True),
        ("invoice.*", "invoice.payment.add", False),
        ("invoice.**", "invoice.payment.add", True),
        ("**.add", "invoice.payment.add", True),
        ("*.a?d", "contact.add", True),
        ("*.a?d", "contact.ad", False),
        ("contact.*", "contact", False),
        ("c*t*t.add", "contact.add", True),
    ],
)
def test_event_globs_match_segment_by_segment(pattern: str, key: str, expected: bool) -> None:
    assert event_glob_matches(pattern, key) is expected


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        ("*" * 50 + "x", "a" * 60),
        ("*a" * 40 + "b", "a" * 80),
        (".".join(["**"] * 30) + ".x", ".".join(["a"] * 40)),
    ],
)
def test_a_pattern_of_many_stars_is_answered_at_once(pattern: str, key: str) -> None:
    # The work stays within a few times the lengths' product (a backtracking matcher's grows
    # exponentially): counted in calls, which no load on the machine changes.
    with counted() as steps:
        assert not event_glob_matches(pattern, key)
    assert steps.calls < 4 * len(pattern) * len(key)


@given(st.lists(st.sampled_from(["1", "2", "10", "²", "٣", "abc", "007", "7", "9" * 5000])))
def test_keys_of_any_kind_sort_without_error_numbers_first(keys: list[str]) -> None:
    ordered = sorted(keys, key=key_order)
    numeric = [k for k in ordered if k.isascii() and k.isdigit()]
    assert ordered[: len(numeric)] == numeric
    # Numerically, without int(): it refuses strings of over 4,300 digits.
    by_value = sorted(numeric, key=lambda k: (len(k.lstrip("0")), k.lstrip("0")))
    assert [k.lstrip("0") for k in numeric] == [k.lstrip("0") for k in by_value]


def test_of_copies_of_a_pair_the_verified_one_then_the_oldest_is_kept() -> None:
    def copies(*rows: tuple[str, str]) -> list[Hook]:
        hooks = [Hook(k, "contact.add", "https://x.example/h", s) for k, s in rows]  # type: ignore[arg-type]
        return sorted(hooks, key=lambda h: key_order(h.key))

    assert keeper(copies(("²", "Unverified"), ("10", "Unverified"), ("9", "Unverified"))).key == "9"
    assert keeper(copies(("9", "Inactive"), ("10", "Verified"), ("11", "Verified"))).key == "10"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.0.9", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
    ],
)
def test_loopback_is_the_whole_range_everywhere(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_the_client_does_not_warn_about_plain_http_to_127_0_0_2(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        Keap("http://127.0.0.2:9/crm/rest/v1", env={}).close()
        Keap("http://192.0.2.1:9/crm/rest/v1", env={}).close()
    warned = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert warned == ["192.0.2.1 is plain http: credentials would cross the network unencrypted"]


def test_status_parsing_is_one_rule() -> None:
    assert parse_status("Inactive") == "Inactive"
    with pytest.raises(ValueError, match="unknown status"):
        parse_status("verified")


@pytest.mark.parametrize(
    ("url", "prefix", "owned"),
    [
        ("https://hooks.example.com/keap/a", "https://hooks.example.com/keap/", True),
        ("https://hooks.example.com/keap", "https://hooks.example.com/keap", True),
        ("https://hooks.example.com/keap/a", "https://hooks.example.com/keap", True),
        ("https://hooks.example.com/keapx", "https://hooks.example.com/keap", False),
        ("https://hooks.example.community/x", "https://hooks.example.com", False),
        ("https://hooks.example.com.partner.net/x", "https://hooks.example.com", False),
        ("https://hooks.example.com:8443/x", "https://hooks.example.com", False),
        ("https://HOOKS.example.com:443/x", "https://hooks.example.com/", True),
        ("http://hooks.example.com/x", "https://hooks.example.com/", False),
    ],
)
def test_url_prefixes_own_urls_at_boundaries_only(url: str, prefix: str, owned: bool) -> None:
    assert under_prefix(url, prefix) is owned


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x.example/keap", "https://x.example/keap"),
        ("https://x.example/keap?token=s3cret", "https://x.example/keap?token=***({token})"),
        ("https://x.example/k?a=s3cret&b=&c", "https://x.example/k?a=***({token})&b=&***({c})"),
        ("https://u:s3cret@x.example/k#s3cret", "https://***({userinfo})@x.example/k#***({token})"),
    ],
)
def test_masked_urls_hide_query_values_userinfo_and_fragment(url: str, shown: str) -> None:
    def fp(value: str) -> str:
        return secrets.fingerprint(value)

    masked = mask_url(url)
    assert masked == shown.format(token=fp("s3cret"), c=fp("c"), userinfo=fp("u:s3cret"))
    assert "s3cret" not in masked


def test_a_changed_token_shows_as_a_changed_fingerprint() -> None:
    assert mask_url("https://x.example/k?t=old") != mask_url("https://x.example/k?t=new")
    assert mask_url("https://x.example/k?t=old") == mask_url("https://x.example/k?t=old")
