"""Values that must never be shown, and the keyed fingerprint that stands in for them.

A pull request's hooks.yaml is hostile input read next to the account's credentials, so:
- every value `${VAR}` brought in from the environment is hidden wherever it lands (a url's
  path or host, an event name, an error message), not only in a url's query: `hide` records
  it and `scrub` replaces it in a text;
- a fingerprint is an HMAC with a key the pull request cannot read (`HOOKCTL_FINGERPRINT_KEY`,
  else one derived from the account's credentials in the environment), never a plain hash that
  anyone could match against a guess (a 4-digit token falls in milliseconds).

The state is process-wide on purpose: every renderer and error path must consult it, and a
value hidden once stays hidden for the rest of the run.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Iterable, Mapping

__all__ = [
    "FINGERPRINT_KEY_ENV",
    "INTERPOLATED_PREFIXES",
    "MIN_HIDDEN",
    "derive_key",
    "fingerprint",
    "hide",
    "keyed_digest",
    "scrub",
    "start_run",
]

FINGERPRINT_KEY_ENV = "HOOKCTL_FINGERPRINT_KEY"
# The variables a hooks file may interpolate (hookctl.config.interpolate). Their values are
# hidden from the start of every run, whether a file uses them or not: `hooks list` shows live
# urls that were built from them.
INTERPOLATED_PREFIXES = ("HOOK_", "HOOKS_")
# The credentials a key is derived from when HOOKCTL_FINGERPRINT_KEY is not set: KEAP_* keys,
# tokens and secrets (KEAP_API_KEY, KEAP_PRODUCTION_KEY, KEAP_CLIENT_SECRET...), stable ones
# only: a refresh token rotates, which would make every saved plan stale.
_KEY_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")
_NOT_KEY_SOURCES = frozenset({"KEAP_REFRESH_TOKEN"})
# Shorter values are not hidden inside other text: replacing every "ab" would garble whole
# outputs, and a value that short is no secret.
MIN_HIDDEN = 4
# A run hides at most this many values: a hostile environment cannot make scrub quadratic.
_MAX_HIDDEN = 10_000

_lock = threading.Lock()
_hidden: set[str] = set()
_key: list[bytes] = []
_process_key = os.urandom(32)


def start_run(env: Mapping[str, str]) -> None:
    """A new run: forget the values hidden so far, hide those of `env`'s HOOK_* and HOOKS_*
    variables, and choose the fingerprint key from `env` (see the module's docstring). Without
    any source, a random key for this process: fingerprints still tell values apart within one
    run."""
    material = _material(env)
    with _lock:
        if material is not None:
            _key[:] = [derive_key(material)]
        else:
            # No secret to derive from: one random key for the whole process, so that every
            # run in it (a test's plan, then its apply) shows the same fingerprints.
            _key[:] = [_process_key]
        _hidden.clear()
    hide(value for name, value in env.items() if name.startswith(INTERPOLATED_PREFIXES))


def _material(env: Mapping[str, str]) -> bytes | None:
    explicit = env.get(FINGERPRINT_KEY_ENV)
    if explicit:
        return b"explicit\0" + explicit.encode("utf-8", "surrogatepass")
    found = [
        f"{name}={env[name]}"
        for name in sorted(env)
        if name.startswith("KEAP_")
        and name.endswith(_KEY_SUFFIXES)
        and name not in _NOT_KEY_SOURCES
        and env[name]
    ]
    return "\0".join(found).encode("utf-8", "surrogatepass") if found else None


def _current_key() -> bytes:
    with _lock:
        if not _key:
            material = _material(os.environ)
            _key.append(derive_key(material) if material is not None else _process_key)
        return _key[0]


def keyed_digest(data: bytes, key: bytes | None = None) -> str:
    """The hex HMAC-SHA256 of `data` under `key`, by default the run's fingerprint key."""
    return hmac.new(key or _current_key(), data, hashlib.sha256).hexdigest()


def derive_key(material: bytes) -> bytes:
    """A fingerprint key from secret `material` (a credential's value)."""
    return hashlib.sha256(b"hookctl fingerprint key\0" + material).digest()


def fingerprint(value: str) -> str:
    """Six hex digits that tell two values apart and confirm no guess without the key."""
    return keyed_digest(value.encode("utf-8", "surrogatepass"))[:6]


def hide(values: Iterable[str]) -> None:
    """Hide each of `values` (those of MIN_HIDDEN characters or more) from every later scrub."""
    with _lock:
        for value in values:
            if len(value) >= MIN_HIDDEN and len(_hidden) < _MAX_HIDDEN:
                _hidden.add(value)


def scrub(text: str) -> str:
    """`text` with every hidden value replaced by `***(fingerprint)`, longest first so that a
    value inside another is not left half shown."""
    with _lock:
        present = [value for value in _hidden if value in text]
    for value in sorted(present, key=len, reverse=True):
        text = text.replace(value, f"***({fingerprint(value)})")
    return text
