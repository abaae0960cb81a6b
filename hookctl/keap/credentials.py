"""Which credential a client uses: the one hooks.yaml names, else $KEAP_API_KEY, else
$KEAP_ACCESS_TOKEN, else an OAuth app ($KEAP_CLIENT_ID and the rest); and what to tell the
user when there is none. Built on hookctl.keap.auth (the kinds of credential) and
hookctl.keap.oauth (the OAuth app), so neither needs the other's module at import time."""

from __future__ import annotations

from collections.abc import Mapping

from hookctl.domain.models import OAuthEnv
from hookctl.keap.auth import (
    DEFAULT_ACCESS_TOKEN_ENV,
    DEFAULT_API_KEY_ENV,
    ApiKeyAuth,
    BearerAuth,
    KeapAuth,
)
from hookctl.keap.oauth import oauth_from_env


def credentials_from_env(
    env: Mapping[str, str],
    api_key_env: str | None = None,
    access_token_env: str | None = None,
    oauth: OAuthEnv | None = None,
) -> KeapAuth | None:
    """Pick the credential named by hooks.yaml (`oauth`: the variables of an OAuth app), else
    KEAP_API_KEY, else KEAP_ACCESS_TOKEN, else an OAuth app (KEAP_CLIENT_ID and the rest)."""
    if api_key_env or access_token_env or oauth:
        candidates: list[tuple[str | None, type[KeapAuth]]] = [
            (api_key_env, ApiKeyAuth),
            (access_token_env, BearerAuth),
        ]
    else:
        candidates = [(DEFAULT_API_KEY_ENV, ApiKeyAuth), (DEFAULT_ACCESS_TOKEN_ENV, BearerAuth)]
    for name, kind in candidates:
        if name and env.get(name):
            return kind(env[name], name)
    if api_key_env or access_token_env:
        return None
    return oauth_from_env(env, oauth)


def variable_names(
    api_key_env: str | None = None,
    access_token_env: str | None = None,
    oauth: OAuthEnv | None = None,
) -> tuple[str, ...]:
    """The names of the environment variables `credentials_from_env` may read for an account,
    in its order: what a CI job must be given (`hookctl accounts`). Never values."""
    if api_key_env or access_token_env:
        return tuple(name for name in (api_key_env, access_token_env) if name)
    if oauth:
        return (oauth.client_id_env, oauth.client_secret_env, oauth.refresh_token_env)
    return (DEFAULT_API_KEY_ENV, DEFAULT_ACCESS_TOKEN_ENV)


def missing_hint(
    api_key_env: str | None = None,
    access_token_env: str | None = None,
    oauth: OAuthEnv | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """What to tell the user when `credentials_from_env` found nothing (in `env`, when given:
    an OAuth app set up but never logged in is told to log in)."""
    if api_key_env or access_token_env:
        return f"set ${api_key_env or access_token_env}"
    app = oauth or OAuthEnv()
    if env is not None and env.get(app.client_id_env) and env.get(app.client_secret_env):
        return (
            f"the OAuth app ${app.client_id_env} has no refresh token yet: run `hookctl auth "
            f"login` (or set ${app.refresh_token_env})"
        )
    if oauth:
        return (
            f"set ${oauth.client_id_env}, ${oauth.client_secret_env} and "
            f"${oauth.refresh_token_env} (or run `hookctl auth login`)"
        )
    return (
        f"set ${DEFAULT_API_KEY_ENV} or ${DEFAULT_ACCESS_TOKEN_ENV}, or an OAuth app's "
        "$KEAP_CLIENT_ID, $KEAP_CLIENT_SECRET and $KEAP_REFRESH_TOKEN"
    )
