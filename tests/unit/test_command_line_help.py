"""The command line's every command, flag, default and help text, pinned: splitting or moving
the code that builds the parser must not change what `hookctl ... --help` says or what a flag
parses to. After a deliberate change of a flag, regenerate the record with
`HOOKCTL_RECORD_HELP=1 pytest tests/unit/test_command_line_help.py` and review its diff."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from hookctl.cli.arguments import build_parser

RECORD = Path(__file__).parents[1] / "data" / "command_line_help.txt"


def _describe(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    """The help of `parser` and of every command below it, with each flag's settings."""
    lines = [f"=== {' '.join(path)}", parser.format_help()]
    for action in parser._actions:
        choices = action.choices
        if isinstance(choices, dict):
            choices = sorted(choices)  # the subcommands' parsers: their names
        kind = getattr(action.type, "__name__", action.type)
        settings = (action.option_strings, action.dest, action.default, kind, choices)
        lines.append(repr((*settings, action.nargs, action.required, type(action).__name__)))
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                lines.extend(_describe(command, (*path, name)))
    return lines


def test_every_commands_help_and_flags_are_as_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help to the terminal's width
    for name in ("KEAP_API_KEY", "KEAP_ACCESS_TOKEN"):  # the sandbox's defaults read them
        monkeypatch.delenv(name, raising=False)
    described = "\n".join(_describe(build_parser(), ("hookctl",))) + "\n"
    if os.environ.get("HOOKCTL_RECORD_HELP"):
        RECORD.write_text(described, encoding="utf-8")
    assert described == RECORD.read_text(encoding="utf-8")
