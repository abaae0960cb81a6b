"""hooks.yaml loader: every error with its message and position, and what a valid file yields."""

from __future__ import annotations

import hashlib
import json
import logging
import textwrap
from collections.abc import Callable, Collection, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.work import counted
from jsonschema import Draft202012Validator

from hookctl.config import MAX_FILE_BYTES, EventTypes, read, read_text, source
from hookctl.config.issues import MAX_ISSUES
from hookctl.domain.models import KNOWN_EVENT_KEYS, Account, Safety, Subscription
from hookctl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hooks.yaml"
SANDBOX_RECEIVER = "http://127.0.0.1:8787/_sandbox/receiver"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(
    document: str | bytes, env: Mapping[str, str] | None = None, event_types: EventTypes = None
) -> list[str]:
    """The lines a user would see for an invalid document named hooks.yaml."""
    with pytest.raises(ConfigError) as info:
        read_text(document, "hooks.yaml", env={} if env is None else env).desired(None, event_types)
    return str(info.value).splitlines()


def one_hook(url: str = "https://hooks.example.com/a", events: str = "[contact.add]") -> str:
    return doc(
        f"""
        version: 1
        hooks:
          - name: a
            url: {url}
            events: {events}
        """
    )


# --- a valid file -------------------------------------------------------------------------


def test_valid_file_yields_one_subscription_per_event_and_url() -> None:
    text = doc(
        """
        version: 1
        account:
          api_url: https://api.example.com/crm/rest/v1
          credentials:
            access_token_env: MY_TOKEN
        ownership:
          url_prefixes: ["https://hooks.example.com/keap/"]
          ignore: ["https://hooks.zapier.com/*"]
          all: true
        safety:
          min_existing: 3
          max_update_ratio: 1
          max_delete_ratio: 0.5
        hooks:
          - name: contacts
            url: https://hooks.example.com/keap/contacts
            events: [contact.add, contact.edit]
          - name: notes
            url: https://hooks.example.com/keap/notes
            events: [note.add]
        """
    )
    state = read_text(text, "conf/hooks.yaml", env={}).desired()
    assert state.subscriptions == {
        Subscription("contact.add", "https://hooks.example.com/keap/contacts", "contacts"),
        Subscription("contact.edit", "https://hooks.example.com/keap/contacts", "contacts"),
        Subscription("note.add", "https://hooks.example.com/keap/notes", "notes"),
    }
    assert state.ownership.declared_urls == {
        "https://hooks.example.com/keap/contacts",
        "https://hooks.example.com/keap/notes",
    }
    assert state.ownership.url_prefixes == ("https://hooks.example.com/keap/",)
    assert state.ownership.ignore == ("https://hooks.zapier.com/*",)
    assert state.ownership.all is True
    assert state.account == Account(
        name="default", api_url="https://api.example.com/crm/rest/v1", access_token_env="MY_TOKEN"
    )
    assert state.safety == Safety(min_existing=3, max_update_ratio=1.0, max_delete_ratio=0.5)
    assert state.source == "conf/hooks.yaml"
    assert state.digest == hashlib.sha256(text.encode()).hexdigest()


def test_optional_sections_take_their_defaults() -> None:
    state = read_text("version: 1\nhooks: []\n", env={}).desired()
    assert state.subscriptions == frozenset()
    assert state.ownership.declared_urls == frozenset()
    assert (state.ownership.url_prefixes, state.ownership.ignore, state.ownership.all) == (
        (),
        (),
        False,
    )
    assert state.account == Account()
    assert state.safety == Safety()


def test_load_reads_the_file_and_keeps_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + one_hook().encode())  # a BOM is fine
    state = read(path, env={}).desired()
    assert state.source == str(path)
    assert state.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {s.pair for s in state.subscriptions} == {("contact.add", "https://hooks.example.com/a")}


def test_a_missing_file_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


# --- the example --------------------------------------------------------------------------


def test_example_is_valid_offline_and_uses_every_feature(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hookctl.config")
    state = read(EXAMPLE, env={}).desired()
    text = EXAMPLE.read_text()
    for feature in ("${HOOKS_BASE_URL:-", '"invoice.*"', '"**.delete"', "ownership:", "ignore:"):
        assert feature in text
    assert state.account.api_url is None  # KEAP_API_URL / --api-url decide
    assert state.account.api_key_env == "KEAP_API_KEY"
    assert state.safety != Safety()
    events = {s.event_key for s in state.subscriptions}
    assert {"invoice.add", "invoice.payment.delete", "opportunity.stage_move"} <= events
    assert caplog.records == []


def test_example_points_at_the_sandbox_receiver_and_owns_its_hooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hookctl.config")
    state = read(EXAMPLE, env={"HOOKS_BASE_URL": SANDBOX_RECEIVER}).desired()
    urls = {s.hook_url for s in state.subscriptions}
    assert urls and all(url.startswith(SANDBOX_RECEIVER + "/") for url in urls)
    assert state.ownership.url_prefixes == (SANDBOX_RECEIVER + "/keap/",)
    assert all(state.ownership.manages(url) for url in urls)
    assert not state.ownership.manages(SANDBOX_RECEIVER + "/elsewhere")
    assert caplog.records == []  # http:// to loopback is not worth a warning


def test_example_validates_against_the_schema_as_editors_see_it() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert list(Draft202012Validator(schema()).iter_errors(data)) == []


# --- bytes --------------------------------------------------------------------------------


def test_non_utf8_file_points_at_the_bad_byte() -> None:
    assert problems("version: 1\nhooks:\n  - name: ç".encode() + b"af\xe9\n") == [
        "hooks.yaml:3:14: is not UTF-8 (invalid byte 0xe9)"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file_is_refused(text: str) -> None:
    assert problems(text) == ["hooks.yaml: is empty: expected a mapping with version and hooks"]


def test_file_over_the_size_bound_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError) as info:
        read(path)
    assert str(info.value) == f"{path}: is larger than 10 MiB"
    assert problems(b"#" * (MAX_FILE_BYTES + 1)) == ["hooks.yaml: is larger than 10 MiB"]


def test_control_character_is_refused_with_its_position() -> None:
    assert problems("version: 1\nhooks: []\x07\n") == [
        "hooks.yaml:2:10: contains the control character U+0007"
    ]


# --- YAML ---------------------------------------------------------------------------------


@pytest.mark.parametrize("parser", [yaml.CSafeLoader, yaml.SafeLoader])
def test_yaml_syntax_error_has_its_line(
    parser: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "_parser", lambda: parser)
    (line,) = problems("version: 1\nhooks:\n  - name: a\n   url: x\n")
    assert line.startswith("hooks.yaml:4:4: invalid YAML: ")


@pytest.mark.parametrize("parser", [yaml.CSafeLoader, yaml.SafeLoader])
def test_an_unquoted_leading_star_gets_a_hint(
    parser: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "_parser", lambda: parser)
    (line,) = problems(one_hook(events="[*.delete]"))
    assert line.startswith("hooks.yaml:5:15: invalid YAML: ")
    assert line.endswith(
        '(while scanning an alias): quote a wildcard that starts with *, as in "*.delete"'
    )


def test_more_than_one_document_is_refused() -> None:
    assert problems("version: 1\nhooks: []\n---\nversion: 1\n") == [
        "hooks.yaml:3:1: holds more than one YAML document"
    ]


def test_duplicate_keys_are_found_at_any_depth() -> None:
    text = doc(
        """
        version: 1
        account:
          credentials:
            api_key_env: A
            api_key_env: B
        hooks:
          - name: a
            url: https://hooks.example.com/a
            events: [contact.add]
            url: https://hooks.example.com/b
        version: 1
        """
    )
    assert problems(text) == [
        "hooks.yaml:5:5: account.credentials.api_key_env: duplicate key 'api_key_env' "
        "(first at line 4)",
        "hooks.yaml:10:5: hooks[0].url: duplicate key 'url' (first at line 8)",
        "hooks.yaml:11:1: version: duplicate key 'version' (first at line 1)",
    ]


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    lines.append("hooks: [*i]")
    with counted() as steps:
        found = problems("\n".join(lines) + "\n")
    # Expanded, the bomb holds 9**9 items; refused, it costs what a small file does (a valid
    # four-hook file takes about 3,400 calls).
    assert steps.calls < 50_000
    assert found[0] == "hooks.yaml:2:4: a: YAML anchors (&name) are not allowed"
    assert found[2] == (
        "hooks.yaml:3:8: b[0]: YAML aliases (*name) are not allowed: a hooks file has no "
        "need for them, and refusing them rules out alias expansion bombs"
    )


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system [ls]", "tag:yaml.org,2002:python/object/apply:os.system"),
        ("!!binary aGVsbG8=", "tag:yaml.org,2002:binary"),
        ("!custom x", "!custom"),
        ("!!set {a, b}", "tag:yaml.org,2002:set"),
    ],
)
def test_yaml_tags_beyond_plain_data_are_refused(value: str, tag: str) -> None:
    assert problems(f"version: 1\nhooks: []\nname: {value}\n")[0] == (
        f"hooks.yaml:3:7: name: the YAML tag {tag!r} is not supported"
    )


def test_mapping_keys_must_be_plain_strings() -> None:
    assert problems("version: 1\nhooks: []\n? [a, b]\n: c\n") == [
        "hooks.yaml:3:3: mapping keys must be plain strings"
    ]


def test_nesting_is_bounded() -> None:
    assert problems("version: 1\nhooks: " + "[" * 30 + "]" * 30 + "\n") == [
        "hooks.yaml:2:27: has nesting deeper than 20 levels: this is not a hooks file"
    ]


@pytest.mark.parametrize("number", [".nan", "-.inf", "1.0e+999"])
def test_numbers_must_be_finite(number: str) -> None:
    assert problems(f"version: 1\nhooks: []\nsafety:\n  max_delete_ratio: {number}\n") == [
        "hooks.yaml:4:21: safety.max_delete_ratio: must be a finite number"
    ]


# --- the schema ---------------------------------------------------------------------------


def test_version_must_be_1() -> None:
    assert problems("version: 2\nhooks: []\n") == [
        "hooks.yaml:1:10: version: must be 1: this hookctl reads version 1 of the hooks.yaml format"
    ]
    assert problems("version: '1'\nhooks: []\n") == [
        "hooks.yaml:1:10: version: expected an integer, got a string"
    ]


def test_version_and_hooks_are_required() -> None:
    assert problems("account: {}\n") == ["hooks.yaml:1:1: missing required keys 'version', 'hooks'"]


def test_document_must_be_a_mapping() -> None:
    assert problems("- a\n- b\n") == ["hooks.yaml:1:1: expected a mapping, got a list"]


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    text = doc(
        """
        version: 1
        owner:
          all: true
        hooks:
          - name: a
            url: https://hooks.example.com/a
            event: [contact.add]
        """
    )
    assert problems(text) == [
        "hooks.yaml:2:1: owner: unknown key 'owner' (did you mean 'ownership'?)",
        "hooks.yaml:5:5: hooks[0]: missing required key 'events'",
        "hooks.yaml:7:5: hooks[0].event: unknown key 'event' (did you mean 'events'?)",
    ]


def test_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    assert problems("version: 1\nhooks: []\nsafety:\n  speed: 3\n") == [
        "hooks.yaml:4:3: safety.speed: unknown key 'speed' "
        "(expected one of: min_existing, max_update_ratio, max_delete_ratio)"
    ]


@pytest.mark.parametrize(
    ("section", "line"),
    [
        ("account:\n  api_key: KeapAK-123456", "account.api_key"),
        ("account:\n  credentials:\n    password: hunter2-123456", "account.credentials.password"),
        ("clientSecret: abc-123456", "clientSecret"),
        ("ownership:\n  AccessToken: abc-123456", "ownership.AccessToken"),
    ],
)
def test_inline_secrets_are_refused_without_echoing_them(section: str, line: str) -> None:
    (message,) = problems(f"version: 1\nhooks: []\n{section}\n")
    assert message.endswith(
        f"{line}: inline secrets are not allowed: put the value in an environment variable "
        "and name the variable (account.credentials.api_key_env or access_token_env)"
    )
    assert "123456" not in message


def test_inline_secret_in_a_hook_entry_points_at_its_key() -> None:
    text = one_hook() + "    secret: s3cr3t-value\n"
    assert problems(text) == [
        "hooks.yaml:6:5: hooks[0].secret: inline secrets are not allowed: put the value in an "
        "environment variable and name the variable (account.credentials.api_key_env or "
        "access_token_env)"
    ]


def test_a_credential_value_in_the_env_name_field_is_refused_without_echoing_it() -> None:
    text = "version: 1\nhooks: []\naccount:\n  credentials:\n    api_key_env: KeapAK-9f8e7d6c\n"
    assert problems(text) == [
        "hooks.yaml:5:18: account.credentials.api_key_env: must be the name of an environment "
        "variable (letters, digits and underscores), never the secret itself"
    ]


def test_credentials_name_exactly_one_variable() -> None:
    text = (
        "version: 1\nhooks: []\naccount:\n  credentials:\n"
        "    api_key_env: A\n    access_token_env: B\n"
    )
    assert problems(text) == [
        "hooks.yaml:5:5: account.credentials: name exactly one credential: "
        "api_key_env, access_token_env or oauth"
    ]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ("[]", "5:13: hooks[0].events: must list at least one event type"),
        ("contact.add", "5:13: hooks[0].events: expected a list, got a string"),
        ("[contact.add, contact.add]", "5:27: hooks[0].events[1]: is listed more than once"),
        ("[3]", "5:14: hooks[0].events[0]: expected a string, got an integer"),
        (
            "['contact add']",
            "5:14: hooks[0].events[0]: must be an event type such as contact.add, "
            "or a wildcard such as invoice.* or **.delete",
        ),
    ],
)
def test_events_must_be_a_non_empty_list_of_unique_event_types(events: str, message: str) -> None:
    assert problems(one_hook(events=events)) == [f"hooks.yaml:{message}"]


@pytest.mark.parametrize("name", ["Contacts", "-a", "with space", "a" * 101, "'' "])
def test_names_follow_the_pattern(name: str) -> None:
    text = one_hook().replace("name: a", f"name: {name}")
    assert problems(text) == [
        "hooks.yaml:3:11: hooks[0].name: must be 1 to 100 lower-case letters, digits, '.', '_' "
        "or '-', starting with a letter or digit"
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("min_existing", "-1", "must be at least 0"),
        ("min_existing", "2.5", "expected an integer, got a number"),
        ("max_update_ratio", "1.5", "must be at most 1"),
        ("max_delete_ratio", "yes", "expected a number, got true or false"),
    ],
)
def test_safety_values_are_bounded(key: str, value: str, message: str) -> None:
    text = f"version: 1\nhooks: []\nsafety:\n  {key}: {value}\n"
    assert problems(text) == [f"hooks.yaml:4:{len(key) + 5}: safety.{key}: {message}"]


# --- urls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/a", "/keap/a", "hooks.example.com/a", "https://", "http://[::1/x"],
)
def test_url_must_be_absolute_http(url: str) -> None:
    assert problems(one_hook(url=f"'{url}'")) == [
        "hooks.yaml:4:10: hooks[0].url: must be an absolute http:// or https:// url"
    ]


def test_url_with_credentials_is_refused_without_echoing_them() -> None:
    (message,) = problems(one_hook(url="https://bob:s3cr3t@hooks.example.com/a"))
    assert message == (
        "hooks.yaml:4:10: hooks[0].url: must not carry credentials (user:password@host): "
        "Keap stores and shows hook urls"
    )


def test_url_prefix_with_credentials_is_refused() -> None:
    text = "version: 1\nhooks: []\nownership:\n  url_prefixes: ['https://u:p@x.example/']\n"
    assert problems(text) == [
        "hooks.yaml:4:18: ownership.url_prefixes[0]: must not carry credentials "
        "(user:password@host): Keap stores and shows hook urls"
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://hooks.example.com:99999/a", "has an invalid port"),
        ("'https://hooks.example.com/a b'", "must not contain spaces or control characters"),
    ],
)
def test_url_must_be_well_formed(url: str, message: str) -> None:
    assert problems(one_hook(url=url)) == [f"hooks.yaml:4:10: hooks[0].url: {message}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8787/a",
        "http://127.9.8.7/a",
        "http://localhost/a",
        "http://[::1]:8080/a",
        "https://hooks.example.com/a",
    ],
)
def test_http_to_loopback_and_https_are_fine_silently(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hookctl.config")
    read_text(one_hook(url=url), env={}).desired()
    assert caplog.records == []


def test_http_elsewhere_is_warned_about_with_its_position(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hookctl.config")
    text = one_hook(url="http://hooks.example.com/a").replace(
        "hooks:", "account:\n  api_url: http://10.0.0.8/crm/rest/v1\nhooks:"
    )
    read_text(text, env={}).desired()
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (
            "hookctl.config",
            "hooks.yaml:3:12: account.api_url: http:// to 10.0.0.8, which is not a loopback "
            "host: Keap API credentials would travel unencrypted (use https://)",
        ),
        (
            "hookctl.config",
            "hooks.yaml:6:10: hooks[0].url: http:// to hooks.example.com, which is not a "
            "loopback host: events would travel unencrypted (use https://)",
        ),
    ]


# --- names, pairs and ownership ------------------------------------------------------------


def test_duplicate_hook_names_are_refused() -> None:
    text = (
        one_hook() + "  - name: a\n    url: https://hooks.example.com/b\n    events: [note.add]\n"
    )
    assert problems(text) == [
        "hooks.yaml:6:11: hooks[1].name: 'a' is already the name of hooks[0] (line 3)"
    ]


def test_the_same_pair_in_two_entries_is_refused() -> None:
    text = one_hook() + (
        "  - name: b\n    url: https://hooks.example.com/a\n    events: [note.add, contact.add]\n"
    )
    assert problems(text) == [
        "hooks.yaml:8:24: hooks[1].events[1]: 'contact.add' is already declared for this url by "
        "hooks[0].events[0] ('contact.add', line 5)"
    ]


def test_the_same_pair_from_a_wildcard_in_one_entry_is_refused() -> None:
    assert problems(one_hook(events='["contact.*", contact.edit]')) == [
        "hooks.yaml:5:27: hooks[0].events[1]: 'contact.edit' is already declared for this url by "
        "hooks[0].events[0] ('contact.*', line 5)"
    ]
    assert problems(one_hook(events='[task.add, "task.*"]')) == [
        "hooks.yaml:5:24: hooks[0].events[1]: 'task.*' includes 'task.add', which is already "
        "declared for this url by hooks[0].events[0] ('task.add', line 5)"
    ]


def test_the_same_event_for_different_urls_is_fine() -> None:
    text = one_hook() + (
        "  - name: b\n    url: https://hooks.example.com/b\n    events: [contact.add]\n"
    )
    assert len(read_text(text, env={}).desired().subscriptions) == 2


def test_declaring_an_ignored_url_is_refused() -> None:
    text = one_hook().replace(
        "hooks:",
        "ownership:\n  ignore: ['https://other.example/*', 'https://hooks.example.com/*']\nhooks:",
    )
    assert problems(text) == [
        "hooks.yaml:6:10: hooks[0].url: is matched by ownership.ignore[1] "
        "('https://hooks.example.com/*'), so hookctl would never manage it: remove the glob or "
        "change the url"
    ]


# --- event types and wildcards -------------------------------------------------------------


def test_unknown_event_type_suggests_the_closest_one() -> None:
    text = doc(
        """
        # The example from the issue, to the column: a sequence may sit at the indentation
        # of its key.
        version: 1
        hooks:
          - name: contacts
            url: https://hooks.example.com/contacts
            events: [contact.add]
          - name: notes
            url: https://hooks.example.com/notes
            events: [note.add]
          - name: groups
            url: https://hooks.example.com/groups
            events:
            - contact.ad
        """
    )
    assert problems(text) == [
        "hooks.yaml:14:7: hooks[2].events[0]: 'contact.ad' is not a Keap event type "
        "(did you mean 'contact.add'?)"
    ]


def test_unknown_event_type_without_a_close_one_says_so() -> None:
    assert problems(one_hook(events="[zzz.qqq]")) == [
        "hooks.yaml:5:14: hooks[0].events[0]: 'zzz.qqq' is not a Keap event type"
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("invoice.*", {"invoice.add", "invoice.delete", "invoice.edit"}),
        ("invoice.*.*", {"invoice.payment.add", "invoice.payment.delete", "invoice.payment.edit"}),
        ("*.redact", {"contact.redact"}),
        ("**.delete", {k for k in KNOWN_EVENT_KEYS if k.endswith(".delete")}),
        ("invoice.**", {k for k in KNOWN_EVENT_KEYS if k.startswith("invoice.")}),
        ("task.?omplete", {"task.complete"}),
        ("*.stage_*", {"opportunity.stage_move"}),
    ],
)
def test_wildcards_expand_segment_by_segment(pattern: str, expected: set[str]) -> None:
    state = read_text(one_hook(events=f"['{pattern}']"), env={}).desired()
    assert {s.event_key for s in state.subscriptions} == expected


def test_single_star_stays_within_a_segment() -> None:
    state = read_text(one_hook(events='["*.delete"]'), env={}).desired()
    assert "invoice.payment.delete" not in {s.event_key for s in state.subscriptions}
    assert "contact.delete" in {s.event_key for s in state.subscriptions}


def test_wildcard_matching_nothing_is_refused() -> None:
    assert problems(one_hook(events='["contact.*", "invoices.*"]')) == [
        "hooks.yaml:5:27: hooks[0].events[1]: 'invoices.*' matches no Keap event type"
    ]


def test_account_event_types_decide_when_given() -> None:
    account = ["contact.add", "contact.merge"]
    state = read_text(one_hook(events='["contact.*"]'), env={}).desired(None, account)
    assert {s.event_key for s in state.subscriptions} == {"contact.add", "contact.merge"}
    assert problems(one_hook(events="[note.add]"), event_types=account) == [
        "hooks.yaml:5:14: hooks[0].events[0]: 'note.add' is not a Keap event type "
        "(did you mean 'contact.add'?)"
    ]


class CountingEventTypes:
    """Stands in for `lambda: keap.event_types()`, counting the calls."""

    def __init__(self, types: Collection[str]) -> None:
        self.types = types
        self.calls = 0

    def __call__(self) -> Collection[str]:
        self.calls += 1
        return self.types


def test_event_types_callable_is_not_called_for_known_literal_events() -> None:
    fetch = CountingEventTypes(KNOWN_EVENT_KEYS)
    read_text(one_hook(events="[contact.add, note.edit]"), env={}).desired(None, fetch)
    assert fetch.calls == 0


@pytest.mark.parametrize("events", ['["contact.*"]', "[contact.add, contact.merge]"])
def test_event_types_callable_is_called_once_for_wildcards_and_unknown_events(events: str) -> None:
    fetch = CountingEventTypes([*KNOWN_EVENT_KEYS, "contact.merge"])
    second = f"  - name: b\n    url: https://hooks.example.com/b\n    events: {events}\n"
    read_text(one_hook(events=events) + second, env={}).desired(None, fetch)
    assert fetch.calls == 1


# --- interpolation ------------------------------------------------------------------------


def test_variables_and_defaults_are_interpolated_in_string_values() -> None:
    text = (
        one_hook(url="${HOOKS_BASE}/keap/${HOOK_PATH_PART:-contacts}$$x") + "    # ${NOT_A_VALUE}\n"
    )
    state = read_text(text, env={"HOOKS_BASE": "https://hooks.example.com"}).desired()
    assert {s.hook_url for s in state.subscriptions} == {
        "https://hooks.example.com/keap/contacts$x"
    }


def test_default_stands_in_for_an_empty_variable() -> None:
    state = read_text(
        one_hook(url="${HOOKS_BASE:-https://hooks.example.com}/a"), env={"HOOKS_BASE": ""}
    ).desired()
    assert {s.hook_url for s in state.subscriptions} == {"https://hooks.example.com/a"}


def test_environment_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKS_TEST_BASE", "https://env.example.com")
    state = read_text(one_hook(url="${HOOKS_TEST_BASE}/a")).desired()
    assert {s.hook_url for s in state.subscriptions} == {"https://env.example.com/a"}


def test_undefined_variable_is_named() -> None:
    assert problems(one_hook(url="${HOOKS_BASE}/a")) == [
        "hooks.yaml:4:10: hooks[0].url: environment variable HOOKS_BASE is not set: plan, "
        "apply and drift need it (validate --offline checks the file without it)"
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("'${}/a'", "'${}' is not a variable reference"),
        ("'${1X}/a'", "'${1X}' is not a variable reference"),
        ("'${X/a'", "unterminated '${' (write '$$' for a literal '$')"),
    ],
)
def test_malformed_variable_references_are_refused(url: str, message: str) -> None:
    (line,) = problems(one_hook(url=url))
    assert line.startswith(f"hooks.yaml:4:10: hooks[0].url: {message}")


def test_keys_are_never_interpolated() -> None:
    assert problems("version: 1\nhooks: []\n${X}: 1\n", env={"X": "safety"}) == [
        "hooks.yaml:3:1: ['${X}']: unknown key '${X}' "
        "(expected one of: version, account, accounts, ownership, safety, hooks)"
    ]


# --- all at once --------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = doc(
        """
        version: 1
        hooks:
          - name: a
            url: ftp://x
            events: [contact.ad]
          - name: A
            url: https://hooks.example.com/b
            events: []
        """
    )
    assert problems(text) == [
        "hooks.yaml:4:10: hooks[0].url: must be an absolute http:// or https:// url",
        "hooks.yaml:5:14: hooks[0].events[0]: 'contact.ad' is not a Keap event type "
        "(did you mean 'contact.add'?)",
        "hooks.yaml:6:11: hooks[1].name: must be 1 to 100 lower-case letters, digits, '.', '_' "
        "or '-', starting with a letter or digit",
        "hooks.yaml:8:13: hooks[1].events: must list at least one event type",
    ]


def test_issues_carry_their_parts() -> None:
    with pytest.raises(ConfigError) as info:
        read_text(one_hook(events="[contact.ad]"), "x/hooks.yaml", env={}).desired()
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.column, issue.path) == (
        "x/hooks.yaml",
        5,
        14,
        "hooks[0].events[0]",
    )


def test_a_flood_of_problems_is_cut_short() -> None:
    hooks = "".join(
        f"  - {{name: h{i}, url: 'https://x.example/{i}', events: [no.{i}]}}\n"
        for i in range(MAX_ISSUES + 50)
    )
    found = problems("version: 1\nhooks:\n" + hooks)
    assert len(found) == MAX_ISSUES + 1
    assert found[-1] == f"hooks.yaml: only the first {MAX_ISSUES} problems are shown"


# --- the pure-Python parser gives the same answers ------------------------------------------


def test_pure_python_yaml_fallback_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = one_hook(events="[contact.ad]") + "    url: x\nversion: 1\n"

    def outcome() -> tuple[Any, list[str]]:
        return read_text(EXAMPLE.read_bytes(), env={}).desired(), problems(bad)

    with_libyaml = outcome()
    monkeypatch.setattr(source, "_parser", lambda: yaml.SafeLoader)
    assert outcome() == with_libyaml


# --- the schema file ----------------------------------------------------------------------


def schema() -> dict[str, Any]:
    text = (files("hookctl.schemas") / "hooks.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            walk(value, visit)


def test_schema_is_valid_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema())


def test_every_schema_property_has_a_description() -> None:
    missing: list[str] = []

    def visit(node: dict[str, Any]) -> None:
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(name)

    walk(schema(), visit)
    assert missing == []


def test_every_schema_object_refuses_unknown_keys_and_inline_secrets() -> None:
    objects: list[dict[str, Any]] = []
    walk(schema(), lambda node: objects.append(node) if node.get("type") == "object" else None)
    # The accounts mapping is keyed by account names, checked by propertyNames instead.
    named = [node for node in objects if "propertyNames" in node]
    assert [node["additionalProperties"] for node in named] == [{"$ref": "#/$defs/account"}]
    objects = [node for node in objects if node not in named]
    assert len(objects) == 7  # credentials.oauth is the seventh
    assert all(node.get("additionalProperties") is False for node in objects)
    patterns = {json.dumps(node.get("patternProperties"), sort_keys=True) for node in objects}
    assert len(patterns) == 1
