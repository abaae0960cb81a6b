"""`Ownership.why(url)`: the one place that says which ownership rule decides a url. The
planner's delete reasons and the loader's "ignored url" error name the rule it returns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import pytest
from helpers.plans import BASE, CONTACTS, ZAPIER, desired_state, hook

from hookctl.config import read_text
from hookctl.domain.models import DesiredState, Ownership, OwnershipRule
from hookctl.domain.planner import Delete, plan
from hookctl.errors import ConfigError
from hookctl.tools.importer import ImportOptions, to_yaml

OWNERSHIP = Ownership(
    declared_urls=frozenset({CONTACTS}),
    url_prefixes=(f"{BASE}/other/", f"{BASE}/keap/"),
    ignore=("https://hooks.zapier.com/*", f"{BASE}/keap/legacy*"),
)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (ZAPIER, OwnershipRule("ignore", "https://hooks.zapier.com/*", 0)),
        # An ignore glob wins even over a prefix that owns the url.
        (f"{BASE}/keap/legacy/1", OwnershipRule("ignore", f"{BASE}/keap/legacy*", 1)),
        (f"{BASE}/keap/billing", OwnershipRule("prefix", f"{BASE}/keap/", 1)),
        (f"{BASE}/other/x", OwnershipRule("prefix", f"{BASE}/other/", 0)),
        ("https://declared.example.net/h", None),
    ],
)
def test_why_names_the_rule_that_decides_a_url(url: str, rule: OwnershipRule | None) -> None:
    assert OWNERSHIP.why(url) == rule
    assert OWNERSHIP.manages(url) is (rule is not None and rule.kind != "ignore")
    assert OWNERSHIP.ignores(url) is (rule is not None and rule.kind == "ignore")


def test_a_declared_url_outside_every_prefix_is_managed_as_declared() -> None:
    url = "https://declared.example.net/h"
    ownership = Ownership(declared_urls=frozenset({url}), url_prefixes=(f"{BASE}/",))
    assert ownership.why(url) == OwnershipRule("declared")
    assert Ownership(all=True, declared_urls=frozenset({url})).why(url) == OwnershipRule("all")
    assert Ownership(all=True, ignore=(url,)).why(url) == OwnershipRule("ignore", url, 0)


def _delete_reason(desired: DesiredState, url: str) -> str:
    # The declared pair is live, so hook 8 pairs with nothing and can only be deleted.
    live = [hook(7, "contact.add", CONTACTS), hook(8, "order.add", url)]
    [delete] = [c for c in plan(desired, live).changes if c.key == "8"]
    assert isinstance(delete, Delete)
    return delete.reason


def test_the_planners_delete_reasons_name_the_rule_why_found() -> None:
    entries: dict[str, tuple[str, Iterable[str]]] = {"c": (CONTACTS, ["contact.add"])}
    secret_prefix = f"{BASE}/q?token=s3cret"
    by_prefix = desired_state(entries, prefixes=(f"{BASE}/gone/", secret_prefix))
    assert _delete_reason(by_prefix, f"{BASE}/gone/1") == (
        f"not declared; its url is under the managed prefix {BASE}/gone/"
    )
    # The prefix is masked like every url shown.
    reason = _delete_reason(by_prefix, f"{BASE}/q?token=s3cret&x=1")
    assert "s3cret" not in reason and "under the managed prefix" in reason
    assert _delete_reason(desired_state(entries, all=True), "https://x.example.net/") == (
        "not declared; ownership.all manages every subscription"
    )
    assert _delete_reason(desired_state(entries), CONTACTS) == (
        "not declared; its url belongs to 'c', which does not declare this event"
    )
    # A hand-built Ownership may list a url that no subscription declares.
    listed = "https://listed.example.net/h"
    state = desired_state(entries)
    by_list = DesiredState(
        state.subscriptions,
        Ownership(declared_urls=state.ownership.declared_urls | {listed}),
    )
    assert _delete_reason(by_list, listed) == "not declared; ownership lists its url as managed"


def test_the_loader_names_the_ignore_glob_that_matches_a_declared_url() -> None:
    text = (
        "version: 1\n"
        "ownership:\n"
        "  ignore: ['https://a.example.com/*', 'https://b.example.com/*']\n"
        "hooks:\n"
        "  - name: b\n"
        "    url: https://b.example.com/x\n"
        "    events: [contact.add]\n"
    )
    with pytest.raises(ConfigError) as refused:
        read_text(text)
    assert "is matched by ownership.ignore[1] ('https://b.example.com/*')" in str(refused.value)


def test_import_under_prefixes_takes_exactly_what_the_written_file_owns() -> None:
    prefixes = [f"{BASE}/keap/", "https://other.example.org/x"]
    urls = [
        f"{BASE}/keap/a",
        f"{BASE}/keapish/b",  # not at a url boundary
        "https://other.example.org/x/y",
        "https://other.example.org/xy",
        ZAPIER,
    ]
    hooks = [hook(i, "contact.add", url) for i, url in enumerate(urls, 1)]
    written = to_yaml(
        hooks,
        ImportOptions(
            api_url="https://api.infusionsoft.com/crm/rest/v1",
            now=datetime(2026, 1, 1, tzinfo=timezone.utc),
            prefixes=tuple(prefixes),
        ),
    )
    state = read_text(written.text, env=written.env).desired()
    imported = {sub.hook_url for sub in state.subscriptions}
    assert imported == {url for url in urls if state.ownership.manages(url)}
    assert imported == {f"{BASE}/keap/a", "https://other.example.org/x/y"}
