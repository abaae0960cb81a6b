"""A witness that runs hookctl as a user would and keeps everything it showed, to prove
that no secret is ever among it."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from pathlib import Path

from helpers.cli import Cli
from hookctl.sandbox import Sandbox

API_KEY = "sk-SECRET-API-KEY-5e1d7a"
TOKEN = "oauth-SECRET-TOKEN-c04b9f"


class Records(logging.Handler):
    """Every log record, rendered every way a formatter could: message, args and exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.getMessage()} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        self.texts.append(text)


class Witness:
    """Runs commands as a user would and keeps all they showed."""

    def __init__(self, cli: Cli) -> None:
        self.cli = cli
        self.seen: list[str] = []
        self.secrets: set[str] = set()
        self.sandbox: Sandbox | None = None
        self.records = Records()

    def run(self, status: int, *argv: str, stdin: str = "", keep_stdout: bool = True) -> str:
        """Run hookctl at -vvv; what it showed is kept (stdout only with `keep_stdout`: a test
        may check a command's stdout on its own) and returned."""
        result = self.cli.run("-vvv", *argv, status=None, stdin=stdin)
        self.seen.append(result.shown if keep_stdout else result.err)
        if self.sandbox is not None:
            self.secrets |= self.hook_secrets(self.sandbox)
        assert result.status == status, (
            f"hookctl {' '.join(argv)} -> {result.status}:\n{result.shown}"
        )
        return result.shown

    @staticmethod
    def hook_secrets(sb: Sandbox) -> set[str]:
        return {s for h in sb.hooks() if (s := sb.last_secret(h.hook_url)) is not None}

    def assert_nothing_shows(self, *files: Path, also: Sequence[str] = ()) -> None:
        """Neither the key, the token, a hook secret nor any of `also` in anything seen."""
        shown = [*self.seen, *self.records.texts, *(f.read_text() for f in files)]
        everything = "\n".join(shown)
        assert "hookctl: DEBUG: GET /hooks -> 200" in everything, "debug logging was not on"
        assert self.secrets, "no hook secret was issued: the handshakes did not run"
        for secret in (API_KEY, TOKEN, *self.secrets, *also):
            assert secret not in everything
