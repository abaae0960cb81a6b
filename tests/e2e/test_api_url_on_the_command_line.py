"""On the command line the API url is --api-url, else $KEAP_API_URL, else the hooks.yaml
account's api_url: each source beats the next, whichever command reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import CLOSED_PORT

from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox


def _hooks_file(tmp_path: Path, api_url: str) -> Path:
    path = tmp_path / "hooks.yaml"
    path.write_text(f"version: 1\naccount:\n  api_url: {api_url}\nhooks: []\n")
    return path


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    ("flag", "environment", "in_file"),
    [
        ("sandbox", CLOSED_PORT, CLOSED_PORT),  # the flag beats both
        (None, "sandbox", CLOSED_PORT),  # the environment beats the file
        (None, None, "sandbox"),  # the file, when nothing else names one
    ],
)
def test_each_source_of_the_api_url_beats_the_next(
    flag: str | None,
    environment: str | None,
    in_file: str,
    sandbox: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def url(choice: str) -> str:
        return sandbox.api_url if choice == "sandbox" else choice

    monkeypatch.setenv("KEAP_API_KEY", api_key)
    if environment is None:
        monkeypatch.delenv("KEAP_API_URL")
    else:
        monkeypatch.setenv("KEAP_API_URL", url(environment))
    config = _hooks_file(tmp_path, url(in_file))
    flags = ["-f", str(config), *(["--api-url", url(flag)] if flag else [])]
    for command in ("plan", "drift", "validate"):
        assert main([command, *flags]) == 0, capsys.readouterr().err
    assert sandbox.stats()["calls"]
