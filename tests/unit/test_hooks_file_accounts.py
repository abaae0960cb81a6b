"""hooks.yaml with named accounts: what each account gets, and every mistake with its position."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookctl import config
from hookctl.domain.models import Account
from hookctl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

TWO_ACCOUNTS = """
version: 1
accounts:
  production:
    credentials: {api_key_env: PROD_KEY}
  staging:
    api_url: https://staging-proxy.example.com/crm/rest/v1
    credentials: {access_token_env: STAGING_TOKEN}
hooks:
  - name: contacts
    url: https://hooks.example.com/contacts
    events: [contact.add]
  - name: notes
    url: https://hooks.example.com/notes
    events: ["note.*"]
    accounts: [staging]
"""


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str, **kwargs: Any) -> list[str]:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        config.read_text(doc(text), "hooks.yaml", **kwargs)
    return str(info.value).splitlines()


def test_each_account_gets_its_settings_and_the_hooks_meant_for_it() -> None:
    document = config.read_text(doc(TWO_ACCOUNTS), "hooks.yaml", env={})
    assert document.declares_accounts
    assert document.accounts == (
        Account(name="production", api_key_env="PROD_KEY"),
        Account(
            name="staging",
            api_url="https://staging-proxy.example.com/crm/rest/v1",
            access_token_env="STAGING_TOKEN",
        ),
    )
    production = document.desired("production")
    staging = document.desired("staging")
    assert {s.pair for s in production.subscriptions} == {
        ("contact.add", "https://hooks.example.com/contacts")
    }
    assert {s.event_key for s in staging.subscriptions} == {
        "contact.add",
        "note.add",
        "note.delete",
        "note.edit",
    }
    assert production.account.name == "production"
    assert staging.account == document.account("staging")
    # The notes url stays owned in production: a copy there is deleted, not left behind.
    assert production.ownership.manages("https://hooks.example.com/notes")
    assert production.digest == staging.digest == document.digest


def test_desired_takes_the_account_by_name(tmp_path: Any) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(doc(TWO_ACCOUNTS))
    assert len(config.read(path, env={}).desired("production").subscriptions) == 1
    assert len(config.read_text(doc(TWO_ACCOUNTS), env={}).desired("staging").subscriptions) == 4
    with pytest.raises(ConfigError) as info:
        config.read(path, env={}).desired()
    assert str(info.value) == (
        f"{path}:2:1: accounts: declares several accounts (production, staging): name one"
    )
    with pytest.raises(ConfigError) as info:
        config.read(path, env={}).desired("prod")
    assert str(info.value) == (
        f"{path}:2:1: accounts: has no account 'prod' (declared: production, staging)"
    )


def test_a_file_with_one_account_section_has_one_account_named_default() -> None:
    text = "version: 1\naccount:\n  credentials: {api_key_env: K}\nhooks: []\n"
    document = config.read_text(text, env={})
    assert not document.declares_accounts
    assert document.accounts == (Account(name="default", api_key_env="K"),)
    assert document.desired().account == document.account()
    assert config.read_text("version: 1\nhooks: []\n").accounts == (Account(),)


def test_account_and_accounts_together_are_refused_at_the_accounts_key() -> None:
    text = """
        version: 1
        account: {}
        accounts:
          a: {}
        hooks: []
        """
    assert problems(text) == [
        "hooks.yaml:3:1: accounts: use either account (one account) or accounts "
        "(named accounts), not both"
    ]


def test_a_hook_naming_accounts_needs_the_accounts_mapping() -> None:
    text = """
        version: 1
        hooks:
          - name: a
            url: https://hooks.example.com/a
            events: [contact.add]
            accounts: [staging]
        """
    assert problems(text) == [
        "hooks.yaml:6:5: hooks[0].accounts: needs named accounts: declare them in a top-level "
        "accounts: mapping"
    ]


def test_an_unknown_account_in_a_hook_is_refused_with_a_suggestion() -> None:
    text = TWO_ACCOUNTS.replace("accounts: [staging]", "accounts: [stagin, qa]")
    assert problems(text) == [
        "hooks.yaml:15:16: hooks[1].accounts[0]: 'stagin' is not an account "
        "(did you mean 'staging'?)",
        "hooks.yaml:15:24: hooks[1].accounts[1]: 'qa' is not an account "
        "(declared: production, staging)",
    ]


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (
            "accounts:\n  Prod Account: {}\n",
            "hooks.yaml:3:3: accounts: account names are 1 to 63 lower-case "
            "letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        ("accounts: {}\n", "hooks.yaml:2:11: accounts: must name at least one account"),
        (
            "accounts:\n  a: {credentials: {api_key: abc}}\n",
            "hooks.yaml:3:21: accounts.a.credentials.api_key: inline secrets are not allowed",
        ),
        (
            "accounts:\n  a: {api_url: 'ftp://x'}\n",
            "hooks.yaml:3:16: accounts.a.api_url: must be an absolute http:// or https:// url",
        ),
        (
            "accounts:\n  a: {region: eu}\n",
            "hooks.yaml:3:7: accounts.a.region: unknown key 'region'",
        ),
    ],
)
def test_account_sections_are_checked_like_account(fragment: str, expected: str) -> None:
    (line,) = problems("version: 1\n" + fragment + "hooks: []\n")
    assert line.startswith(expected)


def test_an_empty_accounts_list_on_a_hook_is_refused() -> None:
    text = TWO_ACCOUNTS.replace("accounts: [staging]", "accounts: []")
    assert problems(text) == [
        "hooks.yaml:15:15: hooks[1].accounts: must list at least one account "
        "(leave accounts out to mean every account)"
    ]


def test_the_same_pair_for_different_accounts_is_allowed_but_not_twice_in_one() -> None:
    text = doc(
        """
        version: 1
        accounts: {production: {}, staging: {}}
        hooks:
          - name: live
            url: https://hooks.example.com/contacts
            events: [contact.add]
            accounts: [production]
          - name: rehearsal
            url: https://hooks.example.com/contacts
            events: [contact.add]
            accounts: [ACCOUNT]
        """
    )
    document = config.read_text(text.replace("ACCOUNT", "staging"))
    assert {s.name for s in document.desired("production").subscriptions} == {"live"}
    assert {s.name for s in document.desired("staging").subscriptions} == {"rehearsal"}
    twice = config.read_text(text.replace("ACCOUNT", "production"))
    with pytest.raises(ConfigError, match=r"hooks\[1\]\.events\[0\]: 'contact.add' is already"):
        twice.desired("production")


def test_events_are_checked_against_each_accounts_own_event_types() -> None:
    document = config.read_text(doc(TWO_ACCOUNTS), env={})
    # An account without note.* event types: only the account the entry is meant for fails.
    no_notes = ["contact.add"]
    assert len(document.desired("production", no_notes).subscriptions) == 1
    with pytest.raises(ConfigError) as info:
        document.desired("staging", no_notes)
    assert (
        str(info.value)
        == "hooks.yaml:14:14: hooks[1].events[0]: 'note.*' matches no Keap event type"
    )


def test_read_text_reports_account_event_problems_with_the_rest() -> None:
    text = TWO_ACCOUNTS.replace("[contact.add]", "[contact.ad]").replace(
        "PROD_KEY}", "PROD_KEY, x: 1}"
    )
    with pytest.raises(ConfigError) as info:
        config.read_text(doc(text), env={}).desired("production")
    paths = [issue.path for issue in info.value.issues]
    assert paths[0].startswith("accounts.production.credentials")
    assert paths[-1] == "hooks[0].events[0]"


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True),
    limits=st.lists(st.one_of(st.none(), st.sets(st.integers(0, 3), min_size=1)), max_size=6),
)
def test_an_account_gets_exactly_the_entries_that_do_not_exclude_it(
    names: list[str], limits: list[set[int] | None]
) -> None:
    lines = ["version: 1", "accounts:", *(f"  {name}: {{}}" for name in names)]
    lines.append("hooks:" if limits else "hooks: []")
    for index, limit in enumerate(limits):
        lines += [f"  - name: h{index}", f"    url: https://h.example.com/{index}"]
        lines.append("    events: [contact.add]")
        if limit is not None:
            chosen = sorted({names[i % len(names)] for i in limit})
            lines.append(f"    accounts: [{', '.join(chosen)}]")
    document = config.read_text("\n".join(lines) + "\n", env={})
    assert document.account_names == tuple(names)
    for name in names:
        got = {s.name for s in document.desired(name).subscriptions}
        expected = {
            f"h{index}"
            for index, limit in enumerate(limits)
            if limit is None or name in {names[i % len(names)] for i in limit}
        }
        assert got == expected
        # Every url of the file is owned in every account.
        assert document.desired(name).ownership.declared_urls == {
            f"https://h.example.com/{index}" for index in range(len(limits))
        }


def test_the_accounts_example_is_valid_and_splits_its_entries() -> None:
    document = config.read(ROOT / "examples" / "accounts.yaml", env={})
    assert document.account_names == ("production", "staging")
    production = {s.name for s in document.desired("production").subscriptions}
    staging = {s.name for s in document.desired("staging").subscriptions}
    assert production == {"contact-sync", "billing"}
    assert staging == {"contact-sync", "billing-rehearsal"}
    assert document.account("staging").api_url == "https://api.infusionsoft.com/crm/rest/v1"


def test_a_refused_account_name_is_pointed_at_but_never_repeated() -> None:
    key = "KeapAK-4d1f0c9e8b7a"  # a key pasted where a name goes
    text = TWO_ACCOUNTS.replace("  staging:", f"  {key}:")
    lines = problems(text.replace("accounts: [staging]", "accounts: [stagin]"))
    assert lines[0].startswith("hooks.yaml:5:3: accounts: account names are")
    assert lines[1] == (
        "hooks.yaml:15:16: hooks[1].accounts[0]: 'stagin' is not an account (declared: production)"
    )
    assert all(key not in line for line in lines)


def test_a_document_with_problems_reports_its_event_mistakes_with_them() -> None:
    text = TWO_ACCOUNTS.replace("https://hooks.example.com/contacts", "ftp://contacts")
    text = text.replace('["note.*"]', "[note.ad]")
    assert problems(text) == [
        "hooks.yaml:10:10: hooks[0].url: must be an absolute http:// or https:// url",
        "hooks.yaml:14:14: hooks[1].events[0]: 'note.ad' is not a Keap event type "
        "(did you mean 'note.add'?)",
    ]
