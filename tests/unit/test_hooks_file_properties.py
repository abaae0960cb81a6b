"""Properties of the hooks.yaml loader: what the schema accepts loads; nothing else escapes."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from hookctl.config import read_text
from hookctl.config.schema import fast_valid, validator
from hookctl.domain.models import KNOWN_EVENT_KEYS, Subscription
from hookctl.errors import ConfigError

SCHEMA = json.loads((files("hookctl.schemas") / "hooks.schema.json").read_text(encoding="utf-8"))
AS_WRITTEN = Draft202012Validator(SCHEMA)
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Expected expansions, written out by hand rather than computed by the code under test.
WILDCARDS = {
    "invoice.*": {"invoice.add", "invoice.delete", "invoice.edit"},
    "invoice.payment.*": {"invoice.payment.add", "invoice.payment.delete", "invoice.payment.edit"},
    "*.redact": {"contact.redact"},
    "task.*complete": {"task.complete", "task.incomplete"},
    "contactGroup.???????": {"contactGroup.applied", "contactGroup.removed"},
    "**.stage_move": {"opportunity.stage_move"},
    "user.*": {"user.activate", "user.add", "user.edit"},
}

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
bases = st.sampled_from(
    [
        "https://hooks.example.com",
        "https://hooks.example.com:8443/keap",
        "http://127.0.0.1:8787/_sandbox/receiver",
        "http://[::1]:9000",
        "http://localhost",
        "http://plain.example.org",  # valid, with a warning
    ]
)
paths = st.from_regex(
    r"(/[A-Za-z0-9._~%-]{1,10}){0,3}(\?[a-z]{1,5}=[a-z0-9]{1,5})?", fullmatch=True
)
ratios = st.floats(min_value=0, max_value=1) | st.sampled_from([0, 1])


@st.composite
def entry_events(draw: st.DrawFn) -> tuple[list[str], set[str]]:
    """An events list and the event keys it stands for: literals plus at most one wildcard."""
    wildcard = draw(st.none() | st.sampled_from(sorted(WILDCARDS)))
    covered = WILDCARDS.get(wildcard, set()) if wildcard else set()
    literals = draw(
        st.lists(
            st.sampled_from([k for k in KNOWN_EVENT_KEYS if k not in covered]),
            unique=True,
            min_size=0 if wildcard else 1,
            max_size=5,
        )
    )
    events = [*literals, wildcard] if wildcard else literals
    return draw(st.permutations(events)), covered | set(literals)


@st.composite
def valid_documents(draw: st.DrawFn) -> tuple[dict[str, Any], set[Subscription]]:
    document: dict[str, Any] = {"version": 1}
    expected: set[Subscription] = set()
    hooks = []
    for index, name in enumerate(draw(st.lists(names, unique=True, max_size=6))):
        events, event_keys = draw(entry_events())
        # The index keeps urls apart, so no (event, url) pair can repeat across entries.
        url = f"{draw(bases)}/h{index}{draw(paths)}"
        hooks.append({"name": name, "url": url, "events": events})
        expected |= {Subscription(key, url, name) for key in event_keys}
    if draw(st.booleans()):
        account: dict[str, Any] = {}
        if draw(st.booleans()):
            account["api_url"] = draw(bases) + "/crm/rest/v1"
        if draw(st.booleans()):
            which = draw(st.sampled_from(["api_key_env", "access_token_env"]))
            account["credentials"] = {which: draw(env_names)}
        document["account"] = account
    if draw(st.booleans()):
        ownership: dict[str, Any] = {}
        if draw(st.booleans()):
            ownership["url_prefixes"] = draw(st.lists(bases.map(lambda b: b + "/"), unique=True))
        if draw(st.booleans()):
            # Globs on a host no hook uses, so that no declared url is ignored.
            ownership["ignore"] = draw(
                st.lists(paths.map(lambda p: "https://zap.example.net" + p + "*"), unique=True)
            )
        if draw(st.booleans()):
            ownership["all"] = draw(st.booleans())
        document["ownership"] = ownership
    if draw(st.booleans()):
        document["safety"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "min_existing": st.integers(min_value=0, max_value=10**6),
                    "max_update_ratio": ratios,
                    "max_delete_ratio": ratios,
                },
            )
        )
    document["hooks"] = hooks
    ordered = {key: document[key] for key in draw(st.permutations(list(document)))}
    return ordered, expected


@FAST
@given(valid_documents(), st.booleans())
def test_any_document_the_schema_accepts_loads(
    generated: tuple[dict[str, Any], set[Subscription]], flow: bool
) -> None:
    document, expected = generated
    assert AS_WRITTEN.is_valid(document)
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=flow)
    state = read_text(text, env={}).desired()
    assert state.subscriptions == expected
    assert state.ownership.declared_urls == {hook["url"] for hook in document["hooks"]}
    ownership = document.get("ownership", {})
    assert state.ownership.url_prefixes == tuple(ownership.get("url_prefixes", ()))
    assert state.ownership.ignore == tuple(ownership.get("ignore", ()))
    assert all(state.ownership.manages(url) for url in state.ownership.declared_urls)


def assert_clean(document: str | bytes) -> None:
    """Loading either succeeds or raises ConfigError with located, one-line issues."""
    try:
        read_text(document, "fuzz.yaml", env={}).desired()
    except ConfigError as error:
        assert error.issues
        for line in str(error).splitlines():
            assert line.startswith("fuzz.yaml")


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_config_error(data: bytes) -> None:
    assert_clean(data)


yaml_tokens = st.sampled_from(
    [
        *"-:[]{},&*!|>'\"#%@`?~ \n\n\n\t\\",
        "  ",
        "version",
        "hooks",
        "name",
        "url",
        "events",
        "account",
        "ownership",
        "safety",
        "token",
        "1",
        "0x1f",
        ".nan",
        "1:30",
        "2024-01-01",
        "yes",
        "null",
        "contact.add",
        "invoice.*",
        "https://h.example/x",
        "http://u:p@h/",
        "${X}",
        "${X:-d}",
        "$$",
        "${",
        "<<",
        "!!str",
        "!!binary",
        "!foo",
        "&a",
        "*a",
        "---",
        "...",
        "%YAML 1.1",
        "\ufeff",
        "é",
    ]
)


@FAST
@given(st.lists(yaml_tokens, max_size=60).map("".join))
def test_random_yaml_text_never_raises_anything_but_config_error(text: str) -> None:
    assert_clean(text)
    assert_clean(text.encode("utf-8", "surrogatepass"))


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["contact.add", "invoice.*", "https://h.example/a", "${HOME}", "api_key"])
)
keys = st.sampled_from(
    [
        "version",
        "hooks",
        "name",
        "url",
        "events",
        "account",
        "credentials",
        "api_key_env",
        "ownership",
        "ignore",
        "url_prefixes",
        "all",
        "safety",
        "min_existing",
        "api_key",
        "token",
    ]
) | st.text(max_size=10)
structures = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@FAST
@given(structures, st.booleans())
def test_random_yaml_structures_never_raise_anything_but_config_error(
    data: Any, flow: bool
) -> None:
    assert_clean(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True))


@FAST
@given(
    st.fixed_dictionaries(
        {"version": scalars, "hooks": st.lists(st.dictionaries(keys, structures, max_size=4))},
        optional={"account": structures, "ownership": structures, "safety": structures},
    )
    | structures
)
def test_the_loaders_compiled_schema_agrees_with_the_schema_as_written(data: Any) -> None:
    assert validator().is_valid(data) == AS_WRITTEN.is_valid(data)


AGREEMENT = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@AGREEMENT
@given(
    st.fixed_dictionaries(
        {"version": scalars, "hooks": st.lists(st.dictionaries(keys, structures, max_size=4))},
        optional={"account": structures, "ownership": structures, "safety": structures},
    )
    | structures
    | valid_documents().map(lambda made: made[0])
)
def test_the_generated_validator_for_fleets_agrees_with_jsonschema(data: Any) -> None:
    assert fast_valid(data) == validator().is_valid(data)


def test_a_file_the_generated_validator_refuses_is_worded_by_jsonschema() -> None:
    bad = "version: 1\nhooks:\n  - name: a\n    url: https://h.example/a\n    events: 3\n"
    assert not fast_valid(yaml.safe_load(bad))
    with pytest.raises(ConfigError) as refused:
        read_text(bad)
    assert "hooks.yaml:5:13: hooks[0].events: expected a list, got an integer" in str(refused.value)
