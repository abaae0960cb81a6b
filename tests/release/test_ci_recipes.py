"""The CI recipes in examples/ci, the Kubernetes example in examples/k8s and
.pre-commit-hooks.yaml run hookctl commands that exist."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookctl.cli.arguments import build_parser
from hookctl.cli.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
# pathlib's * matches dot-files too, so .gitlab-ci.yml is among these.
RECIPES = [
    *sorted(ROOT.glob("examples/ci/**/*.yml")),
    *sorted(ROOT.glob("examples/k8s/*.yaml")),
    ROOT / ".pre-commit-hooks.yaml",
]
SHELL_STOPS = {">", ">>", "|", "||", "&&", ";", "2>&1", "2>"}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        # A workflow's or step's `name` is a title ("hookctl drift (shards)"), not a command.
        for key, value in node.items():
            if key not in ("name", "description"):
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _action_steps(node: Any) -> Iterator[dict[str, Any]]:
    """The steps that use the hookctl action (`uses: OWNER/hookctl@...`)."""
    if isinstance(node, dict):
        if str(node.get("uses", "")).split("@")[0].endswith("/hookctl"):
            yield node
        for value in node.values():
            yield from _action_steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _action_steps(item)


def _action_command(inputs: dict[str, Any]) -> list[str]:
    """The command line the action builds from its inputs (action.yml's run step). An
    expression such as `${{ matrix.shard }}` stands for a number here."""
    words = [str(inputs["command"])]
    for path in shlex.split(str(inputs.get("files", ""))):
        words += ["-f", path]
    if inputs.get("account"):
        words += ["--account", str(inputs["account"])]
    return words + shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "1", str(inputs.get("args", ""))))


def _kubernetes_commands(document: Any) -> Iterator[list[str]]:
    """The arguments of the hookctl containers of a Kubernetes manifest, with `$(VAR)`
    references as the Indexed Job sets them (JOB_COMPLETION_INDEX: 0)."""
    if isinstance(document, dict):
        if "image" in document and "hookctl" in str(document["image"]):
            yield [re.sub(r"\$\(JOB_COMPLETION_INDEX\)", "0", str(a)) for a in document["args"]]
        for value in document.values():
            yield from _kubernetes_commands(value)
    elif isinstance(document, list):
        for item in document:
            yield from _kubernetes_commands(item)


def hookctl_commands(path: Path) -> list[list[str]]:
    """Every `hookctl ...` command line in a recipe, cut at the first shell operator, and the
    command of every step that uses the hookctl action."""
    document = yaml.safe_load(path.read_text())
    commands = [_action_command(step.get("with", {})) for step in _action_steps(document)]
    commands += list(_kubernetes_commands(document))
    for text in _strings(document):
        for line in text.splitlines():
            words = shlex.split(line, comments=True) if "hookctl " in line else []
            if "hookctl" not in words or words[0] in ("pip", "name:"):
                continue
            words = words[words.index("hookctl") + 1 :]
            cut = next((i for i, w in enumerate(words) if w in SHELL_STOPS), len(words))
            commands.append(words[:cut])
    return commands


def test_every_recipe_is_found_and_runs_hookctl() -> None:
    names = {p.name for p in RECIPES}
    assert {"hookctl-plan.yml", "hookctl-apply.yml", "hookctl-drift.yml", ".gitlab-ci.yml"} <= names
    for path in RECIPES:
        assert hookctl_commands(path), f"{path} runs no hookctl command"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_commands_parse_with_the_real_command_line(path: Path) -> None:
    parser = build_parser()
    for words in hookctl_commands(path):
        try:
            args = parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{path.name}: `hookctl {' '.join(words)}` is not a valid hookctl command")
        runs = getattr(args, "handler", None) in COMMANDS
        assert runs, f"{path.name}: `hookctl {' '.join(words)}` runs nothing"


def test_the_apply_workflow_keeps_applies_one_at_a_time() -> None:
    workflow = yaml.safe_load((ROOT / "examples/ci/github-actions/hookctl-apply.yml").read_text())
    assert workflow["concurrency"]["cancel-in-progress"] is False
    # With several accounts: one at a time in each account, the accounts side by side.
    recipe = ROOT / "examples/ci/github-actions/hookctl-apply-accounts.yml"
    job = yaml.safe_load(recipe.read_text())["jobs"]["apply"]
    assert "matrix.account" in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["strategy"]["fail-fast"] is False
    assert all("--account" in words for words in hookctl_commands(recipe) if words[0] == "plan")
    gitlab = yaml.safe_load((ROOT / "examples/ci/gitlab/.gitlab-ci.yml").read_text())
    assert gitlab["hookctl-apply"]["resource_group"]


def test_the_checker_itself_rejects_a_flag_hookctl_does_not_have(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yml"
    recipe.write_text("steps:\n  - run: hookctl plan --no-such-flag -f hooks.yaml > plan.md\n")
    [words] = hookctl_commands(recipe)
    assert words == ["plan", "--no-such-flag", "-f", "hooks.yaml"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(words)


def test_the_plan_recipe_posts_one_sticky_comment_even_on_refusal_then_fails_the_check() -> None:
    recipe = ROOT / "examples/ci/github-actions/hookctl-plan.yml"
    steps = yaml.safe_load(recipe.read_text())["jobs"]["plan"]["steps"]
    plan = next(step for step in steps if step.get("id") == "plan")
    assert plan["uses"].startswith("OWNER/hookctl@")
    assert plan["with"]["command"] == "plan" and plan["with"]["comment"] == "true"
    # The action: the run step writes the markdown (a refused plan's too, the refusal on top)
    # and exits with hookctl's status; the comment step comes after it and runs even when the
    # run step failed, so the check fails only after the comment is posted.
    action = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    run = next(i for i, step in enumerate(action) if step.get("id") == "run")
    comment = next(i for i, step in enumerate(action) if "github-script" in step.get("uses", ""))
    assert run < comment
    assert "--format markdown" in action[run]["run"] and 'exit "$status"' in action[run]["run"]
    assert "always()" in action[comment]["if"]
    script = action[comment]["with"]["script"]
    # One comment per pull request, found by its marker and edited in place.
    assert "updateComment" in script and "=== marker" in script


def test_saved_plans_are_applied_without_a_confirmation_flag() -> None:
    applies = [
        words
        for path in RECIPES
        for words in hookctl_commands(path)
        if words[0] == "apply" and any(w.endswith(".json") or w == "$PLAN_FILE" for w in words)
    ]
    assert len(applies) >= 3
    for words in applies:
        assert "--auto-approve" not in words and "--yes" not in words, words


def _envs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("env"), dict):
            yield node["env"]
        for value in node.values():
            yield from _envs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _envs(item)


@pytest.mark.parametrize(
    "path",
    sorted(ROOT.glob("examples/ci/github-actions/*.yml")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_a_recipe_that_hands_over_credentials_pins_the_api_url_they_go_to(path: Path) -> None:
    """A pull request's hooks.yaml must not choose where the key is sent (account.api_url):
    KEAP_API_URL, set beside the credentials, wins over it."""
    envs = [env for env in _envs(yaml.safe_load(path.read_text())) if _gives_credentials(env)]
    assert envs, f"{path.name} hands over no credential"
    for env in envs:
        assert env.get("KEAP_API_URL") == "https://api.infusionsoft.com/crm/rest/v1", env


def _gives_credentials(env: dict[str, Any]) -> bool:
    return any("secrets.KEAP" in str(value) for value in env.values())
