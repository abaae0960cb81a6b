"""The ways repositories lay hooks files out, through the CLI against a sandbox on loopback:
one directory per environment (envs/*/hooks.yaml), one per service (services/*/keap-hooks.yaml)
and one file per client (clients/*.yaml). Each file's account is named by its own
`account: {name: ...}` or by the part of its path that tells the files apart, and every command
that takes -f takes a directory or a glob, ending in one line when it cannot go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import validator
from helpers.reads import one_account_file

from hookctl.cli.commands import main
from hookctl.engine import selection
from hookctl.sandbox import Sandbox


@pytest.fixture
def repo(sandbox: Sandbox, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository to lay files out in, as the working directory; every credential
    variable the files name holds the sandbox's key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for variable in ("KEY_STAGING", "KEY_PROD", "KEY_CRM", "KEY_BILLING", "KEY_ACME", "KEY_GLOBEX"):
        monkeypatch.setenv(variable, api_key)
    return tmp_path


def labels(out: str) -> list[str]:
    return [each["label"] for each in json.loads(out)["accounts"]]


def urls(sandbox: Sandbox) -> set[str]:
    return {hook.hook_url.rsplit("/", 1)[1] for hook in sandbox.hooks()}


def test_one_directory_per_environment_works_in_every_command(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(Path("envs/staging/hooks.yaml"), sandbox, "staging-contacts", "KEY_STAGING")
    one_account_file(Path("envs/prod/hooks.yaml"), sandbox, "prod-contacts", "KEY_PROD")

    # pre-commit's way: every file as an argument, each checked on its own.
    assert main(["validate", "--offline", "envs/staging/hooks.yaml", "envs/prod/hooks.yaml"]) == 0
    assert main(["validate", "--offline", "-f", "envs"]) == 0
    capsys.readouterr()

    # A directory is searched below its first level; each account is named by its directory.
    assert main(["plan", "-f", "envs/", "--format", "json"]) == 0
    assert sorted(labels(capsys.readouterr().out)) == ["prod", "staging"]
    assert main(["plan", "-f", "envs"]) == 0
    out = capsys.readouterr().out
    assert "=== staging ===" in out and "=== prod ===" in out

    # A glob, for CI where no shell expands it.
    assert main(["apply", "-f", "envs/*/hooks.yaml", "--auto-approve"]) == 0
    assert urls(sandbox) == {"staging-contacts", "prod-contacts"}
    capsys.readouterr()

    assert main(["drift", "-f", "envs/**/hooks.yaml", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert sorted(labels(json.dumps(document))) == ["prod", "staging"]
    assert not any(each["result"]["drifted"] for each in document["accounts"])

    assert main(["probe", "-f", "envs", "--account", "staging", "--format", "json"]) in (0, 1)
    probed = json.loads(capsys.readouterr().out)["probes"]
    assert [each["accounts"] for each in probed] == [["staging"]]

    assert main(["fmt", "-f", "envs"]) == 0
    assert main(["fmt", "--check", "-f", "envs/*/hooks.yaml"]) == 0


def test_one_directory_per_service_names_each_by_its_directory(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(Path("services/crm/keap-hooks.yaml"), sandbox, "crm-contacts", "KEY_CRM")
    one_account_file(
        Path("services/billing/keap-hooks.yaml"), sandbox, "billing-contacts", "KEY_BILLING"
    )
    assert main(["validate", "--offline", "-f", "services/*/keap-hooks.yaml"]) == 0
    capsys.readouterr()
    assert main(["plan", "-f", "services", "--format", "json"]) == 0
    assert sorted(labels(capsys.readouterr().out)) == ["billing", "crm"]

    # --account picks one service out of the directory; the other is not called.
    assert main(["apply", "-f", "services", "--account", "crm", "--auto-approve"]) == 0
    assert urls(sandbox) == {"crm-contacts"}
    assert main(["drift", "-f", "services/**/keap-hooks.yaml", "--account", "crm"]) == 0


def test_one_file_per_client_and_the_single_account_commands(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(Path("clients/acme.yaml"), sandbox, "acme-contacts", "KEY_ACME")
    one_account_file(Path("clients/globex.yaml"), sandbox, "globex-contacts", "KEY_GLOBEX")
    assert main(["apply", "-f", "clients/", "--auto-approve"]) == 0
    out = capsys.readouterr().out
    assert "=== acme ===" in out and "=== globex ===" in out
    [acme] = [hook for hook in sandbox.hooks() if hook.hook_url.endswith("/acme-contacts")]

    # `hooks` and `import --update` work on one account: --account picks it from a directory.
    assert main(["hooks", "get", acme.key, "--reveal", "-f", "clients/", "--account", "acme"]) == 0
    assert "acme-contacts" in capsys.readouterr().out
    assert main(["import", "--update", "clients/", "--account", "acme", "--dry-run"]) == 0
    capsys.readouterr()

    # Without one, a single line says what to add, never a traceback.
    for args in (["import", "--update", "clients/", "--dry-run"],):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "--account NAME" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert main(["hooks", "get", acme.key, "-f", "clients/"]) == 1
    err = capsys.readouterr().err
    assert "clients/ declares several accounts (acme, globex): name one with --account NAME" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["hooks", "get", acme.key, "-f", "clients/acme.yaml", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == acme.key
    assert main(["hooks", "get", acme.key, "-f", "clients/", "--account", "nobody"]) == 1
    err = capsys.readouterr().err
    assert "has an account of that name (declared: acme, globex)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_file_names_its_account_and_the_name_is_used_everywhere(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(
        Path("keap/hooks.yaml"), sandbox, "staging-contacts", "KEY_STAGING", name="staging"
    )
    one_account_file(
        Path("keap/production.yaml"), sandbox, "prod-contacts", "KEY_PROD", name="production"
    )
    assert main(["plan", "-f", "keap", "--format", "json"]) == 0
    assert labels(capsys.readouterr().out) == ["staging", "production"]
    assert main(["plan", "-f", "keap/hooks.yaml", "--account", "staging", "--format", "json"]) == 0
    assert "changes" in json.loads(capsys.readouterr().out)  # one account: its own document

    # In accounts:, the key is the name: a `name` there is refused at its line.
    Path("bad.yaml").write_text(
        "version: 1\naccounts:\n  a:\n    name: b\nhooks: []\n", encoding="utf-8"
    )
    assert main(["validate", "--offline", "bad.yaml"]) == 1
    assert "bad.yaml:4:5: accounts.a.name:" in capsys.readouterr().err


def test_validate_checks_each_file_alone_and_plan_refuses_two_files_of_one_name(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(Path("a/hooks.yaml"), sandbox, "a-contacts", "KEY_STAGING", name="same")
    one_account_file(Path("b/hooks.yaml"), sandbox, "b-contacts", "KEY_PROD", name="same")
    assert main(["validate", "--offline", "a/hooks.yaml", "b/hooks.yaml"]) == 0
    capsys.readouterr()
    assert main(["plan", "-f", "a/hooks.yaml", "-f", "b/hooks.yaml"]) == 1
    err = capsys.readouterr().err
    assert "a/hooks.yaml and b/hooks.yaml both name an account 'same'" in err
    # A read-only run may have listed an account whose file was read and checked (only GETs:
    # the clash decides that nothing is shown); nothing is ever written.
    assert {call for call in sandbox.stats()["calls"] if not call.startswith("GET ")} == set()


def test_directory_search_skips_hidden_directories_and_is_bounded(
    repo: Path,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_account_file(Path("fleet/one/hooks.yaml"), sandbox, "one", "KEY_ACME")
    one_account_file(Path("fleet/two/deeper/hooks.yaml"), sandbox, "two", "KEY_GLOBEX")
    Path("fleet/.github").mkdir()
    Path("fleet/.github/ci.yaml").write_text("on: push\n")  # not a hooks file, never read
    assert selection.hooks_files(["fleet"]) == [
        "fleet/one/hooks.yaml",
        "fleet/two/deeper/hooks.yaml",
    ]
    assert selection.path_names(selection.hooks_files(["fleet"])) == {
        "fleet/one/hooks.yaml": "one",
        "fleet/two/deeper/hooks.yaml": "deeper",
    }

    monkeypatch.setattr(selection, "MAX_DEPTH", 1)
    assert main(["validate", "--offline", "-f", "fleet"]) == 1
    err = capsys.readouterr().err
    assert "fleet/two/deeper: more than 1 directories deep" in err
    monkeypatch.setattr(selection, "MAX_DEPTH", 8)
    monkeypatch.setattr(selection, "MAX_FILES", 1)
    assert main(["validate", "--offline", "-f", "fleet/**/hooks.yaml"]) == 1
    assert "matches more than 1 files" in capsys.readouterr().err
    assert main(["validate", "--offline", "-f", "nowhere/*/hooks.yaml"]) == 1
    assert "nowhere/*/hooks.yaml: no file matches this pattern" in capsys.readouterr().err


def test_every_shard_prints_the_accounts_document_of_one_schema(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    one_account_file(Path("clients/acme.yaml"), sandbox, "acme-contacts", "KEY_ACME")
    one_account_file(Path("clients/globex.yaml"), sandbox, "globex-contacts", "KEY_GLOBEX")
    one_account_file(Path("clients/initech.yaml"), sandbox, "initech-contacts", "KEY_CRM")
    schema = validator("accounts.schema.json")
    shards = []
    for index in range(3):
        assert main(["plan", "-f", "clients", "--shard", f"{index}/3", "--format", "json"]) == 0
        document = json.loads(capsys.readouterr().out)
        schema.validate(document)
        shards.append(labels(json.dumps(document)))
    # A shard of one account, one of two and an empty one: the same document every time.
    assert shards == [["acme"], ["globex", "initech"], []]


def test_a_plan_saved_for_one_environment_applies_to_its_file_alone(
    repo: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fleet recipe's way: each job plans `-f envs/ --account NAME --out`, and the apply job
    runs `apply PLANFILE` with no -f: the plan names its file and account."""
    one_account_file(Path("a/staging/hooks.yaml"), sandbox, "a-contacts", "KEY_STAGING")
    one_account_file(Path("b/staging/hooks.yaml"), sandbox, "b-contacts", "KEY_PROD")
    assert main(["accounts", "-f", "a", "-f", "b", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["accounts"]
    assert [row["name"] for row in listed] == ["a/staging", "b/staging"]
    args = ["plan", "-f", "a", "-f", "b", "--account", "b/staging", "--out", "b.json"]
    assert main(args) == 0
    assert json.loads(Path("b.json").read_text())["account"] == "b/staging"
    assert main(["apply", "b.json"]) == 0
    assert urls(sandbox) == {"b-contacts"}
