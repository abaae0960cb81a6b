"""The pre-commit hook, run by the real pre-commit in a temporary git repository whose
.pre-commit-config.yaml points at this repository (a copy of this checkout, committed and
tagged v0.2.0): hooks files at any path, .yaml or .yml, several at once, pass; an invalid one
fails with its file:line message.

pre-commit installs the hook's environment once for the module (about 20 s)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hookctl
from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 300
TAG = f"v{hookctl.__version__}"
CLIENT = """version: 1
account:
  credentials: {{api_key_env: {variable}}}
hooks:
  - name: contacts
    url: https://hooks.example.com/{name}/contacts
    events: [contact.add, {event}]
"""


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
    }
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def hookctl_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a git repository with the release tag, as pre-commit clones it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("hookctl-repo")
    for name in (".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, repo / name)
    for name in ("hookctl", "schemas"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hookctl")
    git(repo, "tag", TAG)
    return repo


@pytest.fixture(scope="module")
def project(hookctl_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's repository: hooks files at keap/hooks.yaml, hooks.yml and clients/*.yaml."""
    project = tmp_path_factory.mktemp("project")
    (project / "keap").mkdir()
    (project / "clients").mkdir()
    shutil.copy(ROOT / "examples" / "hooks.yaml", project / "keap" / "hooks.yaml")
    shutil.copy(ROOT / "examples" / "accounts.yaml", project / "hooks.yml")
    for name in ("acme", "globex"):
        variable = f"KEAP_{name.upper()}_KEY"
        text = CLIENT.format(variable=variable, name=name, event="contact.edit")
        (project / "clients" / f"{name}.yaml").write_text(text)
    (project / "notes.yaml").write_text("not: [a, hooks, file]\n")  # matched by no hook
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hookctl_repo}\n"
        f"    rev: {TAG}\n"
        "    hooks:\n"
        "      - id: hookctl-validate\n"
        "      - id: hookctl-validate\n"
        "        name: hookctl validate (clients)\n"
        "        files: ^clients/.*\\.ya?ml$\n"
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    return project


def pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # Without conftest's PYTHONPATH: with this checkout on it, pip would take hookctl as
    # already installed in the hook's environment.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PRE_COMMIT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--verbose", "--color=never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_pre_commit_passes_hooks_files_at_any_path_and_fails_an_invalid_one(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("pre-commit-home")
    passed = pre_commit(project, home)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    out = passed.stdout
    assert "keap/hooks.yaml: valid" in out
    assert "hooks.yml (account production): valid" in out
    assert "hooks.yml (account staging): valid" in out
    assert "clients/acme.yaml: valid" in out and "clients/globex.yaml: valid" in out
    assert "notes.yaml" not in out

    globex = project / "clients" / "globex.yaml"
    globex.write_text(
        CLIENT.format(variable="KEAP_GLOBEX_KEY", name="globex", event="contact.nope")
    )
    failed = pre_commit(project, home)
    assert failed.returncode == 1
    expected = (
        "hookctl: error: clients/globex.yaml:7:27: hooks[0].events[1]: 'contact.nope' is not "
        "a Keap event type"
    )
    assert expected in failed.stdout, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout


def test_the_fmt_hook_rewrites_a_file_out_of_layout_and_then_passes(
    hookctl_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = tmp_path_factory.mktemp("fmt-project")
    hooks = project / "hooks.yaml"
    hooks.write_text(
        "# our hooks\nhooks:\n    - events: [contact.add]   # new contacts\n"
        "      url: https://hooks.example.com/keap\n      name: contacts\nversion: 1\n"
    )
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hookctl_repo}\n    rev: {TAG}\n    hooks:\n      - id: hookctl-fmt\n"
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    home = tmp_path_factory.mktemp("pre-commit-home-fmt")
    rewritten = pre_commit(project, home)
    assert rewritten.returncode == 1, rewritten.stdout[-3000:]  # pre-commit: files were modified
    text = hooks.read_text()
    assert text.index("version: 1") < text.index("hooks:")  # the canonical key order
    assert "# our hooks" in text and "# new contacts" in text  # comments kept
    git(project, "add", "-A")
    again = pre_commit(project, home)
    assert again.returncode == 0, again.stdout[-3000:]
    assert hooks.read_text() == text


def test_pre_commit_passes_a_repository_of_environments_and_services(
    hookctl_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """envs/*/hooks.yaml and services/*/keap-hooks.yaml, matched by the hook's own pattern:
    every file reaches one validate, which checks each on its own (two files of one account
    name are no clash there)."""
    project = tmp_path_factory.mktemp("layouts-project")
    for path, name in (
        ("envs/staging/hooks.yaml", "staging"),
        ("envs/prod/hooks.yaml", "prod"),
        ("services/crm/keap-hooks.yaml", "crm"),
    ):
        file = project / path
        file.parent.mkdir(parents=True)
        text = CLIENT.format(variable=f"KEAP_{name.upper()}_KEY", name=name, event="contact.edit")
        file.write_text(text)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hookctl_repo}\n    rev: {TAG}\n    hooks:\n"
        "      - id: hookctl-validate\n"
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    home = tmp_path_factory.mktemp("pre-commit-home-layouts")
    passed = pre_commit(project, home)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    for path in ("envs/staging/hooks.yaml", "envs/prod/hooks.yaml", "services/crm/keap-hooks.yaml"):
        assert f"{path}: valid" in passed.stdout


def test_files_imported_from_accounts_with_url_tokens_pass_with_no_hook_variable_set(
    hookctl_repo: Path,
    sandbox: Sandbox,
    api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path_factory.mktemp("imported-project")
    (project / "clients").mkdir()
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    for client in ("acme", "globex", "initech"):
        base = f"{sandbox.receiver_url}/{client}/"
        sandbox.seed([("invoice.add", f"{base}billing?token=tok-{client}-77e1", "Verified")])
        variable = f"KEAP_{client.upper()}_KEY"
        monkeypatch.setenv(variable, api_key)
        out = project / "clients" / f"{client}.yaml"
        imported = ["import", "--prefix", base, "--api-key-env", variable, "-o", str(out)]
        assert main(imported) == 0
        monkeypatch.delenv(variable)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hookctl_repo}\n    rev: {TAG}\n    hooks:\n"
        "      - id: hookctl-validate\n        files: ^clients/.*\\.ya?ml$\n"
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    ran = pre_commit(project, tmp_path_factory.mktemp("pre-commit-home-imported"))
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    for client in ("acme", "globex", "initech"):
        assert f"clients/{client}.yaml: valid" in ran.stdout
        assert f"HOOK_{client.upper()}_BILLING_TOKEN" in ran.stdout
