"""`hookctl import`: the written hooks.yaml adopts the live account.

The promise of issue 5 is that `hookctl plan` right after an import "shows no change except
verifies for hooks that are not Verified". One deliberate exception, decided here: when Keap
holds the same (event, url) pair more than once, the planner deletes the extra copies (it keeps
the Verified one, else the oldest). hooks.yaml cannot declare a pair twice, so no import can
make those deletes go away short of leaving the url unmanaged, which would hide a real problem:
a duplicated subscription delivers every event twice. The import says so in a comment above
the entry, and the tests below allow exactly one delete per extra copy and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.cli import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookctl.config import read, read_text
from hookctl.domain.models import DEFAULT_API_URL, KNOWN_EVENT_KEYS, STATUSES, Hook, Status
from hookctl.domain.planner import plan
from hookctl.domain.urls import mask_url, under_prefix
from hookctl.errors import HookctlError
from hookctl.sandbox import Sandbox, SandboxSettings
from hookctl.tools.importer import HooksFile, ImportOptions, to_yaml
from hookctl.tools.operations import SCHEMA_URL

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
NOW = datetime(2026, 11, 29, 4, 53, tzinfo=timezone.utc)
PASSWORD = "pw-9d1e77"
TOKEN = "tok-3e8b51c0aa"
# What import says to set: a line per variable, `  NAME  key KEY`.
_TO_SET = re.compile(r"^  ([A-Z0-9_]+) +key (\S+)$", re.MULTILINE)
# hooks.yaml's interpolation, as far as an imported file uses it: `$$` and `${NAME}`.
_INTERPOLATION = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\})")


@pytest.fixture(autouse=True)
def _env(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)


def _seed_mix(sandbox: Sandbox) -> list[Hook]:
    base = sandbox.receiver_url
    return sandbox.seed(
        [
            ("contact.add", f"{base}/ours/contacts", "Verified"),
            ("contact.edit", f"{base}/ours/contacts", "Inactive"),
            ("contact.add", f"{base}/ours/contacts", "Unverified"),  # duplicate of a Verified
            ("order.add", f"{base}/ours/orders", "Unverified"),
            ("order.add", f"{base}/ours/orders", "Unverified"),  # duplicate, neither Verified
            ("invoice.add", f"{base}/theirs/zap?id=1&token={TOKEN}", "Verified"),
            ("invoice.edit", f"{base}/theirs/zap?id=1&token={TOKEN}", "Verified"),
        ]
    )


class Importer:
    """`hookctl import -o FILE`, then what the person who ran it does: the variables it names
    are set (in this test's environment) to the values that `hooks get KEY --reveal` would show,
    here read from the live url of the key it names. `err` is what import said on stderr."""

    def __init__(self, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cli = cli
        self.monkeypatch = monkeypatch
        self.err = ""

    def __call__(self, out: Path, *args: str, live: Sequence[Hook] = ()) -> Path:
        self.err = self.cli.run("import", "-o", str(out), *args).err
        values = placeholder_values(out.read_text(), self.err, live)
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        return out


def placeholder_values(text: str, err: str, live: Sequence[Hook]) -> dict[str, str]:
    """The value of every ${VAR} that the imported `text` holds, from the live url of the key
    that import's stderr (`err`) names for it; the file holds no other variables."""
    named = dict(_TO_SET.findall(err))
    urls = {hook.key: hook.hook_url for hook in live}
    values: dict[str, str] = {}
    for entry in yaml.safe_load(text).get("hooks") or []:
        pattern, literal, names, position = "", "", [], 0
        for match in _INTERPOLATION.finditer(entry["url"]):
            literal += entry["url"][position : match.start()]
            position = match.end()
            if match.group(1) is None:  # `$$`
                literal += "$"
                continue
            # A fragment runs to the end; a query value to the next & or #.
            value = ".*" if literal.endswith("#") else "[^&#]*"
            pattern += re.escape(literal) + f"(?P<{match.group(1)}>{value})"
            literal = ""
            names.append(match.group(1))
        pattern += re.escape(literal + entry["url"][position:])
        if not names:
            continue
        keys = {named[name] for name in names}
        assert len(keys) == 1, f"one subscription per entry: {keys}"
        found = re.fullmatch(pattern, urls[keys.pop()])
        assert found, f"{entry['url']} does not make its live url"
        values.update(found.groupdict())
    assert set(values) == set(named), "stderr names exactly the file's placeholders"
    return values


def interpolated(template: str, env: dict[str, str]) -> str:
    """What hooks.yaml reads `template` (a string as import writes it) as, under `env`."""
    return _INTERPOLATION.sub(lambda m: env[m.group(1)] if m.group(1) else "$", template)


@pytest.fixture
def run_import(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Importer:
    return Importer(cli, monkeypatch)


def _plan(path: Path, cli: Cli) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cli.run("plan", "--format", "json", "-f", str(path)).out)
    if "accounts" in result:
        # A file of `accounts:` prints the accounts document, even with one account.
        [account] = result["accounts"]
        return dict(account["result"])
    return result


def _expected(live: Sequence[Hook]) -> tuple[set[tuple[str, str]], set[str]]:
    """What the promise allows: the pairs to verify and the keys of duplicate copies."""
    copies: dict[tuple[str, str], list[Hook]] = {}
    for hook in sorted(live, key=lambda h: int(h.key)):
        copies.setdefault(hook.pair, []).append(hook)
    verifies = {p for p, hs in copies.items() if all(h.status != "Verified" for h in hs)}
    extra = set()
    for hooks in copies.values():
        kept = next((h for h in hooks if h.status == "Verified"), hooks[0])
        extra |= {h.key for h in hooks if h is not kept}
    return verifies, extra


def _check_promise(changes: list[dict[str, Any]], live: Sequence[Hook]) -> None:
    verifies, extra = _expected(live)
    assert {c["action"] for c in changes} <= {"verify", "delete"}
    assert {(c["event_key"], c["hook_url"]) for c in changes if c["action"] == "verify"} == verifies
    assert {c["key"] for c in changes if c["action"] == "delete"} == extra


# -- the promise, end to end -------------------------------------------------------------------


def test_plan_right_after_import_only_verifies_and_drops_duplicates(
    sandbox: Sandbox, tmp_path: Path, cli: Cli, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    result = _plan(run_import(tmp_path / "hooks.yaml", live=live), cli)
    _check_promise(result["changes"], live)
    assert result["summary"] == {
        "create": 0,
        "update": 0,
        "verify": 2,  # contact.edit (Inactive) and order.add (two Unverified copies)
        "delete": 2,  # the Unverified copy of contact.add, the newer copy of order.add
        "unchanged": 3,
        "unmanaged": 0,
    }


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(KNOWN_EVENT_KEYS[:4]),
            st.sampled_from(
                ["/a", "/a/", "/ab", "/b?x=1", "/b?x=2&t=$2#f", "/e?tok", "/c/$HOME", "/%20d"]
            ),
            st.sampled_from(STATUSES),
        ),
        max_size=10,
    ),
    st.sampled_from([(), ("--all",), ("--prefix", "/a")]),
)
def test_import_then_plan_keeps_the_promise_on_random_accounts(
    api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
    run_import: Importer,
    rows: list[tuple[str, str, str]],
    mode: tuple[str, ...],
) -> None:
    # A sandbox per example (it starts in milliseconds), so every account starts empty.
    with Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as sandbox:
        monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
        base = sandbox.receiver_url
        live = sandbox.seed([(event, base + path, status) for event, path, status in rows])
        args = [base + arg if arg.startswith("/") else arg for arg in mode]
        out = run_import(tmp_path_factory.mktemp("import") / "hooks.yaml", *args, live=live)
        changes = _plan(out, cli)["changes"]
    prefix = args[1] if "--prefix" in args else ""
    # The JSON plan shows urls masked (issue 13).
    chosen = [h for h in live if not prefix or under_prefix(h.hook_url, prefix)]
    _check_promise(changes, [replace(h, hook_url=mask_url(h.hook_url)) for h in chosen])
    # The urls' query values are in neither the file nor what import said.
    assert not re.search(r"[?&](x|t)=\d|[?]tok|#f", out.read_text() + run_import.err)


def test_import_writes_one_entry_per_url_with_sorted_events_and_status_comments(
    sandbox: Sandbox, tmp_path: Path, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    k = [h.key for h in live]
    path = run_import(tmp_path / "hooks.yaml", live=live)
    text = path.read_text()
    doc = yaml.safe_load(text)
    assert doc["version"] == 1
    # The file adopts this account, so it names its API url as well as the variable used.
    assert doc["account"] == {
        "api_url": sandbox.api_url,
        "credentials": {"api_key_env": "KEAP_API_KEY"},
    }
    assert "ownership" not in doc
    by_url = {entry["url"]: entry for entry in doc["hooks"]}
    base = sandbox.receiver_url
    assert list(by_url) == sorted(by_url)
    assert by_url[f"{base}/ours/contacts"]["events"] == ["contact.add", "contact.edit"]
    assert by_url[f"{base}/ours/orders"]["events"] == ["order.add"]
    # The query values are placeholders, named after the entry and the parameter.
    zap = "${HOOK_THEIRS_ZAP_%s}"
    assert by_url[f"{base}/theirs/zap?id={zap % 'ID'}&token={zap % 'TOKEN'}"]["events"] == [
        "invoice.add",
        "invoice.edit",
    ]
    assert TOKEN not in text
    names = [entry["name"] for entry in doc["hooks"]]
    assert len(set(names)) == len(names)
    assert all(NAME.match(name) for name in names)
    comments = [line.strip() for line in text.splitlines() if line.startswith("  #")]
    assert comments == [
        f"# contact.add: 2 copies; apply keeps key {k[0]}, deletes {k[2]}",
        f"# contact.edit: Inactive (key {k[1]}); apply verifies it",
        f"# order.add: Unverified (key {k[3]}); apply verifies it",
        f"# order.add: 2 copies; apply keeps key {k[3]}, deletes {k[4]}",
    ]
    modeline, imported_by, origin = text.splitlines()[:3]
    assert modeline == f"# yaml-language-server: $schema={SCHEMA_URL}"
    assert imported_by.startswith("# Imported by `hookctl import` on ")
    assert sandbox.api_url in origin
    assert len(read(path).desired().subscriptions) == 5


def test_import_reports_what_a_plan_would_do_on_stderr(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    live = _seed_mix(sandbox)
    out = tmp_path / "hooks.yaml"
    result = cli.run("import", "-o", str(out))
    captured = result
    assert captured.out == ""
    # The plan is the one made once the variables named are set: the round trip holds.
    zap = "HOOK_THEIRS_ZAP_"
    assert captured.err.splitlines() == [
        f"hookctl: wrote {out}: 3 hooks, 5 subscriptions. "
        "A plan on it now: 2 to verify, 2 to delete; 3 unchanged, 0 unmanaged.",
        "hookctl: the urls' query values are not in the file, only ${VAR} placeholders; "
        "validate --offline needs none of them; before plan or apply, set them to the values "
        "the urls have in Keap now (`hookctl hooks get KEY --reveal -f FILE` shows them):",
        f"  {zap}ID     key {live[5].key}",
        f"  {zap}TOKEN  key {live[5].key}",
    ]


def test_import_of_urls_without_a_query_names_no_variable(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    sandbox.seed([("contact.add", f"{sandbox.receiver_url}/plain", "Verified")])
    result = cli.run("import", "-o", str(tmp_path / "hooks.yaml"))
    assert "placeholder" not in result.err
    assert "${" not in (tmp_path / "hooks.yaml").read_text()


def test_an_imported_account_full_of_copies_applies_without_force(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = sandbox.receiver_url
    # Ten subscriptions, each with a copy: ten deletes of copies out of twenty managed. Deleting
    # an extra copy loses nothing, so the safety brake does not count them.
    events = ["contact.add", "contact.edit", "contact.delete", "order.add", "order.edit"]
    events += ["order.delete", "note.add", "note.edit", "note.delete", "task.add"]
    sandbox.seed([(event, f"{base}/{event.split('.')[0]}", "Verified") for event in events] * 2)
    out = tmp_path / "hooks.yaml"
    result = cli.run("import", "-o", str(out))
    err = result.err
    assert "A plan on it now: 10 to delete; 10 unchanged, 0 unmanaged." in err
    assert "--force" not in err
    cli.run("apply", "-f", str(out), "--auto-approve")
    assert sorted(h.event_key for h in sandbox.hooks()) == sorted(events)


def test_import_never_writes_the_api_key_or_a_url_token(
    sandbox: Sandbox, tmp_path: Path, api_key: str, cli: Cli
) -> None:
    _seed_mix(sandbox)
    out = tmp_path / "hooks.yaml"
    written = cli.run("import", "-o", str(out))
    printed = cli.run("import")  # to stdout
    shown = out.read_text() + written.shown + printed.shown
    assert api_key not in shown and TOKEN not in shown


def test_import_with_an_access_token_names_that_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    token = "tok-5be0c2a9"
    with Sandbox(SandboxSettings(api_key=None, access_token=token)) as sandbox:
        sandbox.seed([("contact.add", sandbox.receiver_url + "/t", "Verified")])
        monkeypatch.delenv("KEAP_API_KEY")
        monkeypatch.setenv("KEAP_ACCESS_TOKEN", token)
        monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
        path = tmp_path / "hooks.yaml"
        result = cli.run("import", "-o", str(path))
        text = path.read_text()
        assert yaml.safe_load(text)["account"]["credentials"] == {
            "access_token_env": "KEAP_ACCESS_TOKEN"
        }
        assert token not in text + result.shown
        # The written file works as it is: its credentials section picks the token.
        assert _plan(path, cli)["changes"] == []


def test_import_with_prefix_imports_and_owns_only_that_prefix(
    sandbox: Sandbox, tmp_path: Path, cli: Cli, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    prefix = sandbox.receiver_url + "/ours/"
    # Repeated: listed once.
    path = run_import(tmp_path / "hooks.yaml", "--prefix", prefix, "--prefix", prefix, live=live)
    doc = yaml.safe_load(path.read_text())
    assert doc["ownership"] == {"url_prefixes": [prefix]}
    assert {entry["url"] for entry in doc["hooks"]} == {prefix + "contacts", prefix + "orders"}
    result = _plan(path, cli)
    _check_promise(result["changes"], [h for h in live if under_prefix(h.hook_url, prefix)])
    assert result["summary"]["unmanaged"] == 2


def test_import_with_several_prefixes(
    sandbox: Sandbox, tmp_path: Path, cli: Cli, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    prefixes = [sandbox.receiver_url + "/ours/orders", sandbox.receiver_url + "/theirs/"]
    options = ["--prefix", prefixes[0], "--prefix", prefixes[1]]
    path = run_import(tmp_path / "hooks.yaml", *options, live=live)
    assert yaml.safe_load(path.read_text())["ownership"] == {"url_prefixes": prefixes}
    assert len(read(path).desired().subscriptions) == 3
    _check_promise(
        _plan(path, cli)["changes"],
        [h for h in live if any(under_prefix(h.hook_url, p) for p in prefixes)],
    )


def test_import_with_all_owns_the_whole_account(
    sandbox: Sandbox, tmp_path: Path, cli: Cli, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    path = run_import(tmp_path / "hooks.yaml", "--all", live=live)
    assert yaml.safe_load(path.read_text())["ownership"] == {"all": True}
    assert read(path).desired().ownership.all
    _check_promise(_plan(path, cli)["changes"], live)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--prefix", "https://hooks.example.com/"], "--all and --prefix"),
        (["--prefix", "hooks.example.com/"], "--prefix hooks.example.com/: must be an absolute"),
        ([f"--prefix=https://u:{PASSWORD}@h.example.com/"], "must not carry credentials"),
        # The prefix would be written into the file, and the file holds no query values.
        ([f"--prefix=https://h.example.com/k?token={PASSWORD}"], "must not hold a query"),
        ([f"--prefix=https://h.example.com/k#{PASSWORD}"], "must not hold a query"),
    ],
)
def test_import_refuses_bad_options_in_one_line(
    sandbox: Sandbox,
    tmp_path: Path,
    cli: Cli,
    args: list[str],
    message: str,
) -> None:
    _seed_mix(sandbox)
    out = tmp_path / "hooks.yaml"
    result = cli.run("import", "-o", str(out), *args, status=1)
    err = result.err
    assert message in err and len(err.strip().splitlines()) == 1
    assert PASSWORD not in err
    assert not out.exists()


def test_urls_hooks_yaml_cannot_hold_are_left_out_and_left_alone(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    [ok, secret] = sandbox.seed(
        [
            ("contact.add", sandbox.receiver_url + "/ok", "Verified"),
            ("contact.add", f"https://user:{PASSWORD}@hooks.example.com/k", "Verified"),
        ]
    )
    path = tmp_path / "hooks.yaml"
    imported = cli.run("import", "-o", str(path))
    text = path.read_text()
    assert PASSWORD not in text + imported.shown
    assert f"# Not imported (key {secret.key}): the url must not carry credentials" in text
    assert [entry["url"] for entry in yaml.safe_load(text)["hooks"]] == [ok.hook_url]
    # Not declared and no ownership section: the plan leaves it alone.
    result = _plan(path, cli)
    assert result["changes"] == [] and result["summary"]["unmanaged"] == 1

    # With --all the file would own it and the first apply would delete it: refused.
    err = cli.run("import", "-o", str(tmp_path / "all.yaml"), "--all", status=1).err
    assert f"key {secret.key}: the url must not carry credentials" in err
    assert PASSWORD not in err and not (tmp_path / "all.yaml").exists()


def test_import_refuses_to_overwrite_an_existing_file_without_force(
    sandbox: Sandbox, tmp_path: Path, cli: Cli, run_import: Importer
) -> None:
    live = _seed_mix(sandbox)
    out = tmp_path / "hooks.yaml"
    out.write_text("keep me\n")
    sandbox.reset_stats()
    result = cli.run("import", "-o", str(out), status=1)
    err = result.err
    assert "exists" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_text() == "keep me\n"
    assert sandbox.stats()["calls"] == {}  # refused before asking Keap anything
    run_import(out, "--force", live=live)
    assert read(out).desired().subscriptions


def test_a_file_created_while_importing_is_not_overwritten_without_force(
    sandbox: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hookctl.tools.operations

    _seed_mix(sandbox)
    out = tmp_path / "hooks.yaml"
    adopt = hookctl.tools.operations.adopt

    def adopt_while_someone_writes(*args: Any, **kwargs: Any) -> Any:
        imported = adopt(*args, **kwargs)
        out.write_text("written meanwhile\n")  # after the check that it does not exist
        return imported

    monkeypatch.setattr(hookctl.tools.operations, "adopt", adopt_while_someone_writes)
    result = cli.run("import", "-o", str(out), status=1)
    err = result.err
    assert err.strip() == f"hookctl: error: {out} exists; add --force to overwrite it"
    assert out.read_text() == "written meanwhile\n"
    assert [p.name for p in tmp_path.iterdir()] == ["hooks.yaml"]


def test_an_imported_file_has_the_usual_permissions(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    _seed_mix(sandbox)
    previous = os.umask(0o022)
    try:
        cli.run("import", "-o", str(tmp_path / "hooks.yaml"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "hooks.yaml").stat().st_mode) == 0o644


def test_import_without_output_prints_the_file(sandbox: Sandbox, cli: Cli) -> None:
    live = _seed_mix(sandbox)
    result = cli.run("import")
    captured = result
    env = placeholder_values(captured.out, captured.err, live)
    assert len(read_text(captured.out, env=env).desired().subscriptions) == 5
    assert captured.err.startswith("hookctl: imported: 3 hooks, 5 subscriptions.")


def test_import_of_an_empty_account_is_a_valid_file(sandbox: Sandbox, cli: Cli) -> None:
    result = cli.run("import")
    assert not read_text(result.out).desired().subscriptions


def test_import_costs_one_list_call(sandbox: Sandbox, tmp_path: Path, cli: Cli) -> None:
    _seed_mix(sandbox)
    sandbox.reset_stats()
    cli.run("import", "-o", str(tmp_path / "hooks.yaml"))
    assert sandbox.stats()["calls"] == {"GET /hooks": 1}


# -- the pure writer ---------------------------------------------------------------------------


def _write(hooks: Sequence[Hook], **options: Any) -> HooksFile:
    options.setdefault("api_url", DEFAULT_API_URL)
    if "prefixes" in options:
        options["prefixes"] = tuple(options["prefixes"])
    return to_yaml(hooks, ImportOptions(now=NOW, **options))


def test_names_from_similar_urls_are_deduplicated() -> None:
    hooks = [
        Hook("1", "contact.add", "https://a.example.com/x", "Verified"),
        Hook("2", "contact.add", "https://a.example.com/x/", "Verified"),
        Hook("3", "contact.add", "http://a.example.com/x?q=1", "Verified"),
        Hook("4", "contact.add", "https://" + "b" * 120 + ".example.com/", "Verified"),
        Hook("5", "contact.add", "https://" + "b" * 120 + ".example.com/y", "Verified"),
    ]
    names = sorted(entry["name"] for entry in yaml.safe_load(_write(hooks).text)["hooks"])
    assert names[:3] == ["a-example-com-x", "a-example-com-x-2", "a-example-com-x-3"]
    assert set(names[3:]) == {"b" * 100, "b" * 98 + "-2"}
    assert all(NAME.match(name) for name in names)


def test_the_default_api_url_is_not_written_into_the_account() -> None:
    assert "api_url" not in yaml.safe_load(_write([]).text)["account"]
    other = "https://api.example.com/crm/rest/v1"
    assert yaml.safe_load(_write([], api_url=other).text)["account"]["api_url"] == other


def test_header_leaves_out_credentials_in_the_api_url() -> None:
    text = _write([], api_url="https://user:s3cr3t@api.example.com/v1?access_token=tok123").text
    assert "s3cr3t" not in text and "tok123" not in text
    assert "https://api.example.com/v1" in text.splitlines()[1]
    assert "api_url" not in yaml.safe_load(text)["account"]
    assert "2026-11-29T04:53:00+00:00" in text
    # A query alone keeps the api url out of the file too: it may be a credential.
    text = _write([], api_url="https://api.example.com/v1?access_token=tok123").text
    assert "tok123" not in text and "api_url" not in yaml.safe_load(text)["account"]


def test_query_values_become_placeholders_named_after_entry_and_parameter() -> None:
    url = "https://hooks.example.com/keap/orders?token=s3cr3t&v=2&empty=&FLAG&a$=$x#frag"
    hooks = [
        Hook("7", "order.add", url, "Verified"),
        Hook("8", "order.edit", "https://hooks.example.com/keap/orders?token=other", "Verified"),
    ]
    written = _write(hooks)
    # In url order, and unique across the file: the second entry has a name of its own, and
    # so its variables do.
    [first, second] = yaml.safe_load(written.text)["hooks"]
    entry = "HOOK_ORDERS"
    assert first["url"] == f"https://hooks.example.com/keap/orders?token=${{{entry}_TOKEN}}"
    assert second["url"] == (
        f"https://hooks.example.com/keap/orders?token=${{{entry}_2_TOKEN}}&v=${{{entry}_2_V}}"
        f"&empty=&${{{entry}_2_QUERY}}&a$$=${{{entry}_2_A}}#${{{entry}_2_FRAGMENT}}"
    )
    assert [(p.name, p.key) for p in written.placeholders] == [
        (f"{entry}_TOKEN", "8"),
        (f"{entry}_2_TOKEN", "7"),
        (f"{entry}_2_V", "7"),
        (f"{entry}_2_QUERY", "7"),
        (f"{entry}_2_A", "7"),
        (f"{entry}_2_FRAGMENT", "7"),
    ]
    for secret in ("s3cr3t", "other", "FLAG", "$x", "frag"):
        assert secret not in written.text and secret not in repr(written)
    # With the variables set to the live values, the file declares the live urls.
    loaded = read_text(written.text, env=written.env).desired().subscriptions
    assert {sub.hook_url for sub in loaded} == {h.hook_url for h in hooks}


_PREFIXES = ["https://a.example.com/", "https://b.example.com/x"]
_URLS = [
    "https://a.example.com/",
    "https://a.example.com/p",
    "https://b.example.com/x",
    "https://b.example.com/xy?q=$1",
    "https://b.example.com/x/y?token=T0KEN&q=$1#frag",
    "https://c.example.com/${HOME}",
    "https://user:pw@a.example.com/p",  # hooks.yaml refuses urls with credentials
    "https://a.example.com/with space",  # and urls with spaces
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(KNOWN_EVENT_KEYS[:5]),
            st.sampled_from(_URLS),
            st.sampled_from(STATUSES),
        ),
        max_size=14,
    ),
    st.sampled_from(["declared", "prefixes", "all"]),
    st.randoms(use_true_random=False),
)
def test_plan_after_import_keeps_the_promise_for_any_account(
    rows: list[tuple[str, str, Status]], mode: str, rnd: Any
) -> None:
    keys = rnd.sample(range(1, 1000), len(rows))  # Keap's keys are not in listing order
    live = [Hook(str(key), e, u, s) for key, (e, u, s) in zip(keys, rows, strict=True)]
    options: dict[str, Any] = {
        "prefixes": _PREFIXES if mode == "prefixes" else (),
        "manage_all": mode == "all",
    }
    prefixes = options["prefixes"]
    chosen = [h for h in live if not prefixes or any(under_prefix(h.hook_url, p) for p in prefixes)]
    cannot = [h for h in chosen if "@" in h.hook_url or " " in h.hook_url]
    if cannot and mode != "declared":
        with pytest.raises(HookctlError, match="cannot import"):
            _write(live, **options)
        return
    written = _write(live, **options)
    assert not re.search(r"T0KEN|frag|q=\$\$", written.text)
    desired = read_text(written.text, env=written.env).desired()
    assert all(NAME.match(sub.name) for sub in desired.subscriptions)
    result = plan(desired, live)
    imported = [h for h in chosen if h not in cannot]
    assert {sub.pair for sub in desired.subscriptions} == {h.pair for h in imported}
    _check_promise(
        [
            {"action": c.action, "key": c.key, "event_key": c.event_key, "hook_url": c.hook_url}
            for c in result.changes
        ],
        imported,
    )
    assert {h.key for h in result.unmanaged} == {h.key for h in live} - {h.key for h in imported}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_any_live_text_is_quoted_into_a_file_that_loads(text: str) -> None:
    url = f"https://a.example.com/{text}"
    hooks = [Hook(text or "k", "contact.add", url, "Inactive"), Hook("9", text, url, "Verified")]
    written = _write(hooks, api_url=text)
    doc = yaml.safe_load(written.text)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        assert doc["hooks"] == []  # hooks.yaml cannot hold the url: left out, with a comment
        return
    # `$` comes back doubled (hooks.yaml's interpolation turns `$$` into one dollar), and a
    # query value or a fragment as a placeholder.
    assert interpolated(doc["hooks"][0]["url"], written.env) == url
    assert sorted(doc["hooks"][0]["events"]) == sorted({"contact.add", text.replace("$", "$$")})
    if text in KNOWN_EVENT_KEYS or text == "contact.add":
        desired = read_text(written.text, env=written.env).desired()
        assert {sub.hook_url for sub in desired.subscriptions} == {url}


@pytest.mark.parametrize("flag", ["--api-key-env", "--access-token-env"])
def test_import_with_an_account_and_its_variable_round_trips(
    flag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    secret = "client-credential-4f0e1d"
    token = flag == "--access-token-env"
    with Sandbox(
        SandboxSettings(api_key=None if token else secret, access_token=secret if token else None)
    ) as box:
        box.seed([("contact.add", box.receiver_url + "/acme", "Verified")])
        for name in ("KEAP_API_KEY", "KEAP_ACCESS_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ACME_CREDENTIAL", secret)
        monkeypatch.setenv("KEAP_API_URL", box.api_url)
        path = tmp_path / "acme.yaml"
        args = ["import", "-o", str(path), "--account", "acme", flag, "ACME_CREDENTIAL"]
        imported = cli.run(*args)
        text = path.read_text()
        assert secret not in text + imported.shown
        variable = "access_token_env" if token else "api_key_env"
        assert yaml.safe_load(text)["accounts"] == {
            "acme": {"api_url": box.api_url, "credentials": {variable: "ACME_CREDENTIAL"}}
        }
        assert text.startswith(f"# yaml-language-server: $schema={SCHEMA_URL}\n")
        assert _plan(path, cli)["changes"] == []
        cli.run("plan", "-f", str(path), "--account", "acme")


def test_the_modeline_is_relative_inside_the_checkout(
    sandbox: Sandbox, env: Sandbox, cli: Cli
) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    path = examples / f".imported-{os.getpid()}.yaml"
    try:
        cli.run("import", "-o", str(path))
        modeline = path.read_text().splitlines()[0]
    finally:
        path.unlink(missing_ok=True)
    assert modeline == "# yaml-language-server: $schema=../schemas/hooks.schema.json"
