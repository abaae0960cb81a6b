"""`hookctl accounts`: every account of the hooks files with its name, file, API url and the
names of its credential variables, for a CI matrix; read from the files alone, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import validator

from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox


@pytest.fixture
def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    Path("clients").mkdir()
    Path("clients/acme.yaml").write_text(
        "version: 1\naccount:\n  credentials: {api_key_env: KEAP_ACME_KEY}\nhooks: []\n"
    )
    Path("clients/globex.yaml").write_text(
        "version: 1\naccount:\n  name: globex-inc\n"
        "  api_url: https://keap.example/crm/rest/v1\n"
        "  credentials: {oauth: {client_id_env: GLOBEX_ID}}\nhooks: []\n"
    )
    Path("clients/regions.yaml").write_text(
        "version: 1\naccounts:\n  eu: {credentials: {access_token_env: EU_TOKEN}}\n  us: {}\n"
        "hooks: []\n"
    )
    return tmp_path


def test_accounts_lists_each_account_for_a_ci_matrix(
    clients: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", "-f", "clients", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    validator("account-list.schema.json").validate(document)
    rows = {row["name"]: row for row in document["accounts"]}
    assert list(rows) == [
        "acme",
        "globex-inc",
        "clients/regions.yaml:eu",
        "clients/regions.yaml:us",
    ]
    assert rows["acme"]["file"] == "clients/acme.yaml"
    assert rows["acme"]["credential_variables"] == ["KEAP_ACME_KEY"]
    assert rows["acme"]["api_url"] == "https://api.infusionsoft.com/crm/rest/v1"
    assert rows["globex-inc"]["credential_variables"] == [
        "GLOBEX_ID",
        "KEAP_CLIENT_SECRET",
        "KEAP_REFRESH_TOKEN",
    ]
    assert rows["globex-inc"]["api_url"] == "https://keap.example/crm/rest/v1"
    assert rows["clients/regions.yaml:eu"]["account"] == "eu"
    assert rows["clients/regions.yaml:us"]["credential_variables"] == [
        "KEAP_API_KEY",
        "KEAP_ACCESS_TOKEN",
    ]
    assert sandbox.stats()["calls"] == {}  # Keap is never called

    # Each name is what --account takes with the same -f.
    for name in rows:
        assert main(["accounts", "-f", "clients", "--account", name, "--format", "json"]) == 0
        [row] = json.loads(capsys.readouterr().out)["accounts"]
        assert row["name"] == name

    assert main(["accounts", "-f", "clients"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["NAME", "FILE", "API", "URL", "CREDENTIAL", "VARIABLES"]
    assert text[1].split() == [
        "acme",
        "clients/acme.yaml",
        "https://api.infusionsoft.com/crm/rest/v1",
        "KEAP_ACME_KEY",
    ]


def test_accounts_of_a_shard_and_of_bad_input(
    clients: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = []
    for index in range(2):
        assert main(["accounts", "-f", "clients", "--shard", f"{index}/2", "--format", "json"]) == 0
        names += [row["name"] for row in json.loads(capsys.readouterr().out)["accounts"]]
    assert len(names) == 4 and len(set(names)) == 4

    Path("clients/broken.yaml").write_text("version: 1\nhooks: [\n")
    assert main(["accounts", "-f", "clients"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hookctl: error: clients/broken.yaml:") and "Traceback" not in err
