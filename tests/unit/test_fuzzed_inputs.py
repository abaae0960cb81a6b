"""Mutation fuzzing of the two files hookctl reads from users: hooks.yaml and saved plans.

Valid documents are mutated (bit flips, deletions, insertions of random bytes and of YAML's
special tokens, splices, line shuffles and re-indents; for plans also edits of the JSON tree
with the checksum recomputed, so that the checks behind the checksum are reached too). Every
way in may only answer with its clean error (ConfigError, PlanError, exit status 1), each
example within a bound on the calls it makes and on the memory it takes. Random bytes and
random YAML are fuzzed in test_hooks_file_properties.py and test_saved_plan_files.py; this
file starts from documents that are almost right, where parsers are weakest.

The CI version runs a few dozen examples per target; HOOKCTL_SLOW=1 runs the long version
(HOOKCTL_FUZZ_EXAMPLES examples per target, 6,000 by default: about four minutes).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from helpers.soak import SLOW_ONLY
from helpers.work import counted
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from hookctl.config import Document, read, read_text
from hookctl.domain.models import KNOWN_EVENT_KEYS, Hook
from hookctl.domain.planner import Plan, plan
from hookctl.engine import planfile
from hookctl.errors import ConfigError, PlanError
from hookctl.formats.documents import plan_document

ROOT = Path(__file__).resolve().parents[2]
LONG = int(os.environ.get("HOOKCTL_FUZZ_EXAMPLES", "6000"))
RUNS = [pytest.param(40, id="ci"), pytest.param(LONG, id="long", marks=SLOW_ONLY)]
# Bounds per example, far above what a valid document of this size costs (about 3,000 calls,
# 0.1 MiB; the worst of 240 fuzzed examples made 27,000 calls). Calls, not seconds: a count
# holds however loaded the machine is.
CALLS = 1_000_000
MEBIBYTES = 64
ENV = {"HOOKS_BASE_URL": "http://127.0.0.1:8787/_sandbox/receiver", "X": "x"}

HOOKS_SEEDS = (
    (ROOT / "examples" / "hooks.yaml").read_bytes(),
    b"version: 1\n"
    b"account: {api_url: '${HOOKS_API:-https://api.example.com/crm/rest/v1}', "
    b"credentials: {access_token_env: KEAP_ACCESS_TOKEN}}\n"
    b"ownership: {all: true, ignore: ['https://hooks.zapier.com/*']}\n"
    b"safety: {min_existing: 2, max_update_ratio: 0.5, max_delete_ratio: 0.1}\n"
    b'hooks: [{name: a, url: "https://h.example.com/a?x=$$1", events: ["*.delete", task.add]}]\n',
    # Almost a valid file, one that anchors and a merge key would make into two hooks.
    b"version: 1\nhooks:\n  - &base\n    name: a\n    url: https://h.example.com/a\n"
    b"    events: &ev [contact.add, 'invoice.*']\n  - <<: *base\n    name: b\n    events: *ev\n",
    (ROOT / "examples" / "accounts.yaml").read_bytes(),
)
YAML_TOKENS = (
    *(t.encode() for t in "-:[]{},&*!|>'\"#%@`?~\\"),
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!python/object/apply:os.system ['true']",
    b"!!binary ",
    b"!!int ",
    b"${",
    b"${X}",
    b"${NOPE}",
    b"${X:-",
    b"$$",
    b"\t",
    b"\x00",
    b"\x1b[31m",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\xc3\xa9",
    b"\xe2\x80\xa8",
    b"\xed\xa0\x80",
    b"\xff",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"? ",
    b"|\n",
    b">-\n",
    b"1e999",
    b".nan",
    b"0o777",
    b"9" * 5000,
    b"~",
    b"yes",
    b"2024-01-01",
    b"version: 2\n",
    b"hooks: []\n",
    b"all: true\n",
    b"api_key: sk-123\n",
    b"https://user:pw@h.example.com/",
    b"http://10.0.0.1/",
    b"contact.ad",
    b"**",
)


@contextlib.contextmanager
def bounded(what: str) -> Iterator[None]:
    """Fail when the block makes more than CALLS calls or allocates more than MEBIBYTES."""
    tracemalloc.start()
    try:
        with counted() as steps:
            yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert steps.calls < CALLS, f"{what} made {steps.calls:,} calls"
    assert peak < MEBIBYTES * 1024 * 1024, f"{what} allocated {peak / 2**20:.0f} MiB"


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...], tokens: tuple[bytes, ...] = ()) -> bytes:
    original = draw(st.sampled_from(seeds))
    data = bytearray(original)
    # Weighted towards edits that keep the text UTF-8, which is checked first: random bytes
    # mostly stop there, and the parsers behind that check are the ones to reach.
    kinds = ["flip", "insert", *["delete", "splice", "lines"] * 2, *["token"] * 3 * bool(tokens)]
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(kinds))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7 if data[at] > 0x7F else 6))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(tokens))
        elif kind == "splice":
            donor = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(donor)))
            data[at:at] = donor[start : start + draw(st.integers(1, 64))]
        elif kind == "lines":
            data[:] = _shuffle_lines(draw, bytes(data))
    return bytes(data)


def _shuffle_lines(draw: st.DrawFn, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(("duplicate", "drop", "swap", "indent", "dedent")))
    if how == "duplicate":
        lines.insert(j, lines[i])
    elif how == "drop":
        del lines[i]
    elif how == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "indent":
        lines[i] = b" " * draw(st.integers(1, 4)) + lines[i]
    else:
        lines[i] = lines[i].lstrip(b" ")
    return b"\n".join(lines)


def every_account(document: Document, event_types: Callable[[], tuple[str, ...]]) -> None:
    for name in document.account_names:
        document.desired(name, event_types)


def check_hooks_file(path: Path, cli: Cli) -> None:
    """Every way hookctl reads a hooks file: the loader with the account's event types (the
    callable that `plan` passes), every account of the document, and validate."""

    def event_types() -> tuple[str, ...]:
        return KNOWN_EVENT_KEYS

    readers: list[Callable[[], object]] = [
        lambda: read(path, env=ENV).desired(None, event_types),
        lambda: read_text(path.read_bytes(), str(path), env={}).desired(),
        lambda: every_account(read(path, ENV), event_types),
    ]
    outcomes = []
    for reader in readers:
        with bounded(f"reading {path}"):
            try:
                reader()
            except ConfigError as exc:
                assert exc.issues
                assert all(line.startswith(str(path)) for line in str(exc).splitlines())
                outcomes.append("refused")
            else:
                outcomes.append("read")
    event(f"load: {outcomes[0]}")
    with bounded("hookctl validate"):
        result = cli.run("validate", "--offline", "-f", str(path), status=None)
    assert result.status in (0, 1)
    assert "Traceback" not in result.shown


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("examples", RUNS)
def test_a_mutated_hooks_yaml_loads_or_gives_a_clean_config_error(
    examples: int, workdir: Path, cli: Cli
) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated(HOOKS_SEEDS, YAML_TOKENS))
    def run(data: bytes) -> None:
        path = workdir / "hooks.yaml"
        path.write_bytes(data)
        check_hooks_file(path, cli)

    run()


def test_the_seeds_are_valid_or_nearly_so() -> None:
    """The mutations start next to a valid file: three seeds load, the third only for its
    anchors (which the loader refuses: it never expands an alias), the fourth has accounts."""
    for seed in HOOKS_SEEDS[:2]:
        read_text(seed, env=ENV).desired()
    with pytest.raises(ConfigError, match="anchors"):
        read_text(HOOKS_SEEDS[2], env=ENV).desired()
    for account in ("production", "staging"):
        read_text(HOOKS_SEEDS[3], env=ENV).desired(account)


# -- saved plans ---------------------------------------------------------------------------------

PLAN_SCHEMA = Draft202012Validator(
    json.loads((files("hookctl.schemas") / "plan.schema.json").read_text(encoding="utf-8"))
)
PLAN_WORDS = st.sampled_from(
    [
        "create",
        "update",
        "verify",
        "delete",
        "Verified",
        "Inactive",
        "Paused",
        "contact.add",
        "https://hooks.example.com/keap/contacts",
        "sha256:" + "0" * 64,
        "",
        "1",
    ]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | PLAN_WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PLAN_WORDS, inner, max_size=3),
    max_leaves=8,
)


# A saved plan's bytes, and the plan, live subscriptions and desired-state digest it was made of.
Seeds = dict[bytes, tuple[Plan, tuple[Hook, ...], str]]
API_URL = "https://api.infusionsoft.com/crm/rest/v1"


def _saved_plans(directory: Path) -> Seeds:
    """Two saved plans: one with every kind of change, one with nothing to do."""
    desired = read_text(HOOKS_SEEDS[0], "hooks.yaml", env={}).desired()
    contacts = "https://hooks.example.com/keap/contacts"
    messy = [
        Hook("1", "contact.add", "https://hooks.example.com/keap/old", "Verified"),
        Hook("2", "contact.edit", contacts, "Inactive"),
        Hook("3", "contact.delete", contacts, "Verified"),
        Hook("4", "contact.delete", contacts, "Unverified"),
        Hook("5", "order.add", "https://hooks.zapier.com/x", "Verified"),
    ]
    tidy = [
        Hook(str(i), sub.event_key, sub.hook_url, "Verified")
        for i, sub in enumerate(sorted(desired.subscriptions, key=lambda s: s.pair), start=1)
    ]
    seeds: Seeds = {}
    digest = planfile.desired_digest(desired)
    for live in (messy, tidy):
        path = directory / "seed.json"
        made = plan(desired, live)
        planfile.write(
            path,
            made,
            config_digest=digest,
            live_fingerprint=planfile.fingerprint(live),
            source="hooks.yaml",
            api_url=API_URL,
        )
        seeds[path.read_bytes()] = (made, tuple(live), digest)
    return seeds


@pytest.fixture(scope="module")
def seeds(workdir: Path) -> Seeds:
    return _saved_plans(workdir)


@pytest.fixture(scope="module")
def saved_plans(seeds: Seeds) -> tuple[bytes, ...]:
    return tuple(seeds)


def read_plan(path: Path) -> planfile.SavedPlan | None:
    """planfile.read within bounds; None when it refused the file (with a clean PlanError)."""
    with bounded(f"reading {path}"):
        try:
            saved = planfile.read(path)
        except PlanError as exc:
            assert str(exc).startswith(f"{path}: ")
            assert "\n" not in str(exc)
            # What stopped it (checksum, JSON, schema, ...), for --hypothesis-show-statistics.
            event(str(exc).removeprefix(f"{path}: ")[:40])
            return None
    event("read")
    return saved


@pytest.mark.parametrize("examples", RUNS)
def test_a_plan_file_edited_byte_by_byte_is_refused_unless_only_its_layout_changed(
    examples: int, workdir: Path, saved_plans: tuple[bytes, ...]
) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated(saved_plans))
    def run(content: bytes) -> None:
        path = workdir / "plan.json"
        path.write_bytes(content)
        if read_plan(path) is not None:
            # The checksum covers the content: only white space or escapes may differ.
            assert any(json.loads(content) == json.loads(seed) for seed in saved_plans)

    run()


@st.composite
def edited(draw: st.DrawFn, node: Any) -> Any:
    """`node` with one value somewhere inside it replaced, removed, added or copied."""
    if not isinstance(node, list | dict):
        return draw(JSON_VALUES)
    children: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
    descend: bool = bool(children) and draw(st.integers(0, 2)) > 0
    if descend:
        at = draw(st.sampled_from(children))
        node[at] = draw(edited(node[at]))
        return node
    how = draw(st.sampled_from(("replace", "remove", "add", "copy")))
    if how == "replace":
        return draw(JSON_VALUES)
    if how == "remove" and children:
        del node[draw(st.sampled_from(children))]
    elif how == "add" and isinstance(node, dict):
        node[draw(PLAN_WORDS)] = draw(JSON_VALUES)
    elif how == "add" and isinstance(node, list):
        node.insert(draw(st.integers(0, len(node))), draw(JSON_VALUES))
    elif how == "copy" and children:
        source = copy.deepcopy(node[draw(st.sampled_from(children))])
        if isinstance(node, dict):
            node[draw(st.sampled_from(children))] = source
        else:
            node.append(source)
    return node


@pytest.mark.parametrize("examples", RUNS)
def test_a_plan_file_edited_and_resealed_is_refused_or_lists_exactly_the_plan_made_again(
    examples: int, workdir: Path, seeds: Seeds
) -> None:
    """Someone who knows the format edits a plan and recomputes its checksum: the content
    checks behind the checksum must still only ever answer PlanError, whatever they let
    through must be a plan the schema describes, with a summary that adds up, and apply's
    comparison with the plan made again (from the state the seed was made of) must refuse it
    unless it lists exactly that plan's changes."""

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(seeds)), st.data())
    def run(seed: bytes, data: st.DataObject) -> None:
        document = json.loads(seed)
        del document["checksum"]
        # Inside the top-level values: a missing or unknown top-level key is refused at once.
        for _ in range(data.draw(st.integers(1, 3))):
            key = data.draw(st.sampled_from(sorted(document)))
            document[key] = data.draw(edited(document[key]))
        document["checksum"] = planfile._checksum(document)
        path = workdir / "plan.json"
        path.write_text(json.dumps(document))
        saved = read_plan(path)
        if saved is None:
            return
        assert PLAN_SCHEMA.is_valid(document)
        assert saved.summary == document["summary"]
        current, live, digest = seeds[seed]
        try:
            planfile.ensure_fresh(saved, current, digest, live, api_url=API_URL)
        except PlanError as exc:
            assert "\n" not in str(exc) and str(exc).isprintable()
            event("refused by the comparison")
            return
        assert list(saved.changes) == plan_document(current)["changes"]
        event("the same plan")

    run()
