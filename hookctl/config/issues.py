"""Collects what is wrong with a hooks file, each problem with its line, column and path.

Every stage adds to one Issues; a stage's flagged paths are sealed when it ends, so that a later
stage says nothing more about them and one mistake gives one message.
"""

from __future__ import annotations

import logging
import re

from hookctl.domain.secrets import scrub
from hookctl.errors import ConfigError, ConfigIssue

# Warnings go to the package's logger: users filter on "hookctl.config", whichever stage warns.
logger = logging.getLogger("hookctl.config")

# Past this many problems the rest are not described: a hostile file must not make the loader
# spend minutes on messages nobody reads.
MAX_ISSUES = 200

JSONPath = tuple[str | int, ...]
Mark = tuple[int, int]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


class Issues:
    """Collects problems (and warnings) with their source positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self.truncated = False
        self._stage: set[JSONPath] = set()
        self._sealed: set[JSONPath] = set()

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ISSUES

    def flagged(self, path: JSONPath) -> bool:
        return path in self._sealed

    def add(self, path: JSONPath, mark: Mark | None, message: str, *, silence: bool = True) -> None:
        """Record a problem; with `silence`, later stages say nothing more about `path`."""
        if path in self._sealed:
            return
        if silence:
            self._stage.add(path)
        if self.full:
            self.truncated = True
            return
        line, column = mark if mark else (None, None)
        # A message may quote a value interpolated from the environment (an event that is not
        # Keap's, a host): it is hidden like any other.
        issue = ConfigIssue(self.source, line, column, format_path(path), scrub(message))
        if issue not in self.items:
            self.items.append(issue)

    def warn(self, path: JSONPath, mark: Mark | None, message: str) -> None:
        line, column = mark if mark else (None, None)
        self.warnings.append(
            ConfigIssue(self.source, line, column, format_path(path), scrub(message))
        )

    def seal(self) -> None:
        """End a stage: later stages stay silent about the paths it flagged."""
        self._sealed |= self._stage
        self._stage = set()

    def emit_warnings(self) -> None:
        for warning in self.warnings:
            logger.warning("%s", warning)

    def error(self) -> ConfigError:
        ordered = sorted(self.items, key=lambda i: (i.line or 0, i.column or 0))
        if self.truncated:
            ordered.append(
                ConfigIssue(
                    self.source, None, None, "", f"only the first {MAX_ISSUES} problems are shown"
                )
            )
        return ConfigError(ordered)


def format_path(path: JSONPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{short(part)}]"
    return out


def short(value: object, limit: int = 60) -> str:
    """repr() for messages, bounded so that hostile input cannot make them huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
