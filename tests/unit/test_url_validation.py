"""One url check (domain.urls.parse_url) behind every place hookctl refuses a url: hooks.yaml's
urls, import's, the client's API url, `--notify` and `probe`. Each says it in its own words."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hookctl.domain.urls import UrlProblem, host, parse_url
from hookctl.engine import notify, probe
from hookctl.errors import HookctlError
from hookctl.keap.client import Keap
from hookctl.tools.importer import ImportOptions, to_yaml

# (url, what is wrong with it)
REFUSED = [
    ("http://[::1/x", "malformed"),
    ("ftp://hooks.example.com/x", "not absolute"),
    ("hooks.example.com/x", "not absolute"),
    ("https:///x", "not absolute"),
    ("https://hooks.example.com:99999/x", "port"),
    ("http://127.0.0.1:notaport/x", "port"),
    ("https://hooks.example.com/a b", "characters"),
    ("https://hooks.exa\u2028mple.com/x", "characters"),
    ("https://hooks.example.com/a\x1bb", "characters"),
    ("https://hooks.example.com/\x7f", "characters"),
]


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_a_url_that_is_not_a_usable_http_url_gets_the_kind_of_its_problem(
    url: str, kind: str
) -> None:
    problem = parse_url(url)
    assert isinstance(problem, UrlProblem) and problem.kind == kind


def test_a_usable_url_comes_back_in_parts() -> None:
    parts = parse_url("https://hooks.example.com:8443/keap?token=t")
    assert not isinstance(parts, UrlProblem)
    assert (parts.hostname, parts.port, parts.query) == ("hooks.example.com", 8443, "token=t")
    # Only spaces and control characters are refused: Keap stores any other text in a url.
    assert not isinstance(parse_url("https://hooks.example.com/a\xadb\u200b"), UrlProblem)


def test_userinfo_is_a_problem_only_where_the_caller_refuses_it() -> None:
    url = "https://user:s3cret@hooks.example.com/x"
    problem = parse_url(url)
    assert isinstance(problem, UrlProblem) and problem.kind == "credentials"
    assert "s3cret" not in problem.reason
    assert not isinstance(parse_url(url, userinfo=True), UrlProblem)


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_every_caller_refuses_the_same_urls_in_its_own_words(url: str, kind: str) -> None:
    loader = {
        "malformed": "must be an absolute http:// or https:// url",
        "not absolute": "must be an absolute http:// or https:// url",
        "port": "has an invalid port",
        "characters": "must not contain spaces or control characters",
    }[kind]
    with pytest.raises(ValueError, match=f"^{loader}$"):
        host(url)

    notified = {
        "malformed": "--notify: not a valid url",
        "not absolute": "--notify needs an http(s) url",
        "port": "--notify: not a valid url",
        "characters": "--notify: the url holds spaces or control characters",
    }[kind]
    with pytest.raises(notify.NotifyError) as refused:
        notify.check(url)
    assert str(refused.value) == notified

    with pytest.raises(HookctlError, match=r"^the Keap API url '.*' is not an http\(s\) url$"):
        Keap(url, env={})

    found = probe.handshake(url, timeout=0.5)
    assert found.outcome == "unreachable"
    assert found.detail == (
        "not an absolute http:// or https:// url" if kind == "not absolute" else "not a usable url"
    )


@pytest.mark.parametrize(("url", "kind"), [(u, k) for u, k in REFUSED if u.startswith("http")])
def test_import_refuses_a_prefix_with_the_loaders_reason(url: str, kind: str) -> None:
    reason = {
        "malformed": "must be an absolute http:// or https:// url",
        "not absolute": "must be an absolute http:// or https:// url",
        "port": "has an invalid port",
        "characters": "must not contain spaces or control characters",
    }[kind]
    with pytest.raises(HookctlError) as refused:
        to_yaml(
            [],
            ImportOptions(
                api_url="https://api.infusionsoft.com/crm/rest/v1",
                now=datetime(2026, 1, 1, tzinfo=timezone.utc),
                prefixes=(url,),
            ),
        )
    assert str(refused.value).endswith(f": {reason}")
