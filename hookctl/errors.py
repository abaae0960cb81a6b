"""Typed exceptions. Their text is shown to users as one line, so it never holds a secret."""

from __future__ import annotations

from dataclasses import dataclass


class HookctlError(Exception):
    """Base of every error hookctl reports without a traceback (exit status 1)."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in an input file, pointing at its source."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(HookctlError):
    """hooks.yaml (or another input file) is invalid; carries every issue found, not just one."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class KeapError(HookctlError):
    """An answer from Keap (or the lack of one) that is not what the call needed."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.keap_message = message
        self.hint = hint
        self.retry_after = retry_after
        text = f"{method} {path}"
        if status is not None:
            text += f" -> HTTP {status}"
        text += f": {message}" if message else ""
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class AuthenticationError(KeapError):
    """401/403: the key or token is missing, wrong or lacks permission."""


class NotFoundError(KeapError):
    """404: no subscription with that key."""


class ThrottledError(KeapError):
    """429 after every retry allowed."""


class ServerError(KeapError):
    """5xx after every retry allowed."""


class InvalidRequestError(KeapError):
    """400 and other 4xx answers: Keap refused what we sent."""


class UnreachableError(KeapError):
    """No answer at all: DNS, connection refused, timeout, TLS."""


class CertificateError(UnreachableError):
    """The API's TLS certificate did not verify: no request was sent, and none is retried."""


class ProtocolError(KeapError):
    """Keap answered 2xx with a body that is not what its API declares."""


class PlanError(HookctlError):
    """A plan cannot be made or must not be applied."""


class UnsafePlanError(PlanError):
    """The plan changes more than the safety thresholds allow without --force."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the config or the live account."""
