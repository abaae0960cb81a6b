"""`hookctl fmt` (issue 17 item 4): one canonical layout, comments kept, idempotent, and never a
change of what a file asks for; `--check` writes nothing and exits 1 listing the files it would
change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers.cli import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookctl import config
from hookctl.domain.models import DesiredState
from hookctl.tools.fmt import format_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ENV = {"HOOKS_BASE_URL": "https://hooks.example.com"}
_COMMENT = re.compile(r"#[^\n]*")

UNFORMATTED = """\
# The client's hooks.
hooks:
  - url: https://hooks.example.com/a   # the receiver
    events:
    - contact.add    # new contacts
    - contact.edit
    name: contacts
version: 1
account:
    credentials:
        api_key_env: ACME_KEY
"""

FORMATTED = """\
# The client's hooks.
version: 1
account:
  credentials:
    api_key_env: ACME_KEY
hooks:
  - name: contacts
    url: https://hooks.example.com/a   # the receiver
    events:
      - contact.add  # new contacts
      - contact.edit
"""


def comments(text: str) -> list[str]:
    """The comments of a YAML text (none of these texts holds a # inside a string)."""
    return sorted(match.group().rstrip() for match in _COMMENT.finditer(text))


def meaning(text: str) -> tuple[object, ...]:
    """What a hooks file asks for, without the digest of its bytes."""
    desired: DesiredState = config.read_text(text, "hooks.yaml", env=ENV).desired()
    return (desired.subscriptions, desired.ownership, desired.safety, desired.account)


def test_the_canonical_layout() -> None:
    assert format_text(UNFORMATTED) == FORMATTED
    assert meaning(FORMATTED) == meaning(UNFORMATTED)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_is_idempotent_and_keeps_its_comments(example: Path) -> None:
    text = example.read_text()
    once = format_text(text)
    assert format_text(once) == once
    assert comments(once) == comments(text)
    assert yaml.safe_load(once) == yaml.safe_load(text)


def test_a_comment_on_an_event_stays_on_its_item(tmp_path: Path) -> None:
    text = (
        "version: 1\nhooks:\n  - name: a\n    url: https://hooks.example.com/a\n"
        "    events:\n      - contact.add   # new people only\n      - contact.edit\n"
    )
    assert format_text(text) == text
    assert format_text(text.replace("   # new people only", "")) == (
        "version: 1\nhooks:\n  - name: a\n    url: https://hooks.example.com/a\n"
        "    events: [contact.add, contact.edit]\n"
    )


def test_fmt_rewrites_and_check_lists(tmp_path: Path, cli: Cli) -> None:
    clients = tmp_path / "clients"
    clients.mkdir()
    messy, tidy = clients / "acme.yaml", clients / "globex.yaml"
    messy.write_text(UNFORMATTED)
    tidy.write_text(FORMATTED)
    before = messy.stat().st_mtime_ns

    result = cli.run("fmt", "-f", str(clients), "--check", status=1)
    # Each file to reformat, then its unified diff, as `terraform fmt -check -diff`.
    out = result.out.splitlines()
    assert out[:3] == [f"would reformat {messy}", f"--- {messy}", f"+++ {messy} (formatted)"]
    assert "-    name: contacts" in out and "+  - name: contacts" in out
    assert "-    credentials:" in out and "+  credentials:" in out
    assert messy.read_text() == UNFORMATTED and messy.stat().st_mtime_ns == before

    result = cli.run("fmt", "-f", str(tidy), "--check")
    assert result.out == ""

    result = cli.run("fmt", "-f", str(clients))
    assert result.out == f"reformatted {messy}\n"
    assert messy.read_text() == FORMATTED and tidy.read_text() == FORMATTED
    cli.run("fmt", "-f", str(clients), "--check")


def test_fmt_uses_hooks_yaml_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("hooks.yaml").write_text(UNFORMATTED)
    cli.run("fmt")
    assert Path("hooks.yaml").read_text() == FORMATTED


def test_a_file_that_is_not_yaml_is_one_line_and_nothing_is_written(
    tmp_path: Path, cli: Cli
) -> None:
    good, bad = tmp_path / "a.yaml", tmp_path / "b.yaml"
    good.write_text(UNFORMATTED)
    bad.write_text("version: 1\nhooks: [unclosed\n")
    result = cli.run("fmt", "-f", str(tmp_path), status=1)
    err = result.err
    assert str(bad) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert good.read_text() == UNFORMATTED


# -- random documents ------------------------------------------------------------------------

_words = st.text(alphabet="abcdefghij -", min_size=1, max_size=12).map(str.strip)
_comment = st.one_of(st.none(), _words.map(lambda w: f"# {w}"))
_events = st.lists(
    st.sampled_from(["contact.add", "contact.edit", "order.*", "note.*", "invoice.add"]),
    min_size=1,
    max_size=4,
    unique=True,
)


def _eol(comment: str | None) -> str:
    return f"   {comment}" if comment else ""


@st.composite
def documents(draw: st.DrawFn) -> str:
    """hooks files in any key order, list style and indentation, with comments."""
    indent = draw(st.sampled_from([2, 4]))
    pad = " " * indent
    entries = []
    for index in range(draw(st.integers(0, 4))):
        events = draw(_events)
        flow = draw(st.booleans())
        quoted = [f'"{e}"' if "*" in e else e for e in events]
        lines = {
            "name": [f"name: hook-{index}{_eol(draw(_comment))}"],
            "url": [f"url: https://hooks.example.com/{index}{_eol(draw(_comment))}"],
            "events": (
                [f"events: [{', '.join(quoted)}]{_eol(draw(_comment))}"]
                if flow
                else ["events:"] + [f"{pad}- {e}{_eol(draw(_comment))}" for e in quoted]
            ),
        }
        order = draw(st.permutations(list(lines)))
        body = [line for key in order for line in lines[key]]
        entry = [f"{pad}- {body[0]}"] + [f"{pad}  {line}" for line in body[1:]]
        if draw(st.booleans()):
            entry.append("")
        entries.append(entry)
    sections = {
        "version": [f"version: 1{_eol(draw(_comment))}"],
        "account": ["account:", f"{pad}credentials:", f"{pad}{pad}api_key_env: ACME_KEY"],
        "safety": ["safety:", f"{pad}min_existing: {draw(st.integers(0, 50))}"],
        "ownership": [
            "ownership:",
            f"{pad}url_prefixes:",
            f"{pad}{pad}- https://hooks.example.com/{_eol(draw(_comment))}",
        ],
        "hooks": ["hooks:" + ("" if entries else " []")] + [x for e in entries for x in e],
    }
    keys = ["version", "hooks"] + [
        k for k in ("account", "safety", "ownership") if draw(st.booleans())
    ]
    order = draw(st.permutations(keys))
    head = draw(_comment)
    text = ([head] if head else []) + [line for key in order for line in sections[key]]
    return "\n".join(text) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_formatting_never_changes_the_desired_state(text: str) -> None:
    once = format_text(text)
    assert meaning(once) == meaning(text)
    assert format_text(once) == once
    assert comments(once) == comments(text)
    lines = once.splitlines()
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        assert (len(line) - len(stripped)) % 2 == 0, once
        if stripped.startswith("events:") and not stripped.startswith("events: ["):
            # A block list is kept only for a comment on one of its items.
            items = [each.lstrip() for each in lines[index + 1 :]]
            block = [
                each
                for each in items[
                    : next(
                        (n for n, each in enumerate(items) if each.startswith(("- name", "name:"))),
                        len(items),
                    )
                ]
                if each.startswith("- ")
            ]
            assert any("#" in each for each in block), once
