"""The GitHub Action (action.yml) and every workflow: validated by a real validator
(@action-validator/cli from npm), every action pinned, and the action's own steps run with bash
as a runner would run them (GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the inputs
through `env:`) against a sandbox; its github-script step runs under node with a stand-in
`github` client.

The action's install step runs once for the module (it installs a copy of this checkout into a
fresh virtual environment, as `uses: OWNER/hookctl@v0.2.0` would)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Api
from helpers.cli import TWO, write_config

from hookctl.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
ACTION_FILE = ROOT / "action.yml"
ACTION: dict[str, Any] = dict(yaml.safe_load(ACTION_FILE.read_text()))
WORKFLOWS = sorted(
    [*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/ci/github-actions/*.yml")]
)
VALIDATOR = "@action-validator/cli@0.6.0"
INSTALL_TIMEOUT = 300
STEP_TIMEOUT = 120
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def step(step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = ACTION["runs"]["steps"]
    [found] = [s for s in steps if s.get("id") == step_id]
    return found


# -- the validator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: @action-validator/cli cannot be installed")
    prefix = tmp_path_factory.mktemp("action-validator")
    installed = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", VALIDATOR],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    binary = prefix / "node_modules" / ".bin" / "action-validator"
    if installed.returncode != 0 or not binary.exists():
        pytest.skip(f"npm could not install @action-validator/cli: {installed.stderr[-500:]}")
    return binary


def validate(validator: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(validator), str(path)],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("path", [ACTION_FILE, *WORKFLOWS], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_action_and_every_workflow_pass_the_validator(validator: Path, path: Path) -> None:
    checked = validate(validator, path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_validator_itself_rejects_a_broken_action(validator: Path, tmp_path: Path) -> None:
    broken = yaml.safe_load(ACTION_FILE.read_text())
    broken["runs"]["steps"][0].pop("shell")  # a composite run step must name its shell
    path = tmp_path / "action.yml"
    path.write_text(yaml.safe_dump(broken))
    assert validate(validator, path).returncode != 0


def uses_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield value
            else:
                yield from uses_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from uses_of(item)


@pytest.mark.parametrize("path", [ACTION_FILE, *WORKFLOWS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_used_is_pinned(path: Path) -> None:
    # This action too: a tag can be moved to other code, a commit SHA cannot.
    for uses in uses_of(yaml.safe_load(path.read_text())):
        _, _, ref = uses.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {uses} is not pinned by SHA"


def test_the_recipes_use_the_action_or_a_pinned_hookctl() -> None:
    for path in ROOT.glob("examples/ci/**/*.yml"):
        text = path.read_text()
        assert "pip install hookctl\n" not in text and "pip install hookctl`" not in text
        installs = re.findall(r"pip install (\S.*)", text)
        for spec in installs:
            assert re.search(r"@v\d+\.\d+\.\d+|==\d+\.\d+\.\d+|\.whl", spec), f"{path}: {spec}"
        assert re.search(r"OWNER/hookctl@[0-9a-f]{40}", text) or installs, path


# -- running the action's steps ----------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    returncode: int
    outputs: dict[str, str]
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Runner:
    """A runner's side of a job: RUNNER_TEMP, the job summary and the action's checkout."""

    temp: Path
    action_path: Path
    python: str

    @property
    def summary(self) -> Path:
        return self.temp / "summary.md"

    @property
    def work(self) -> Path:
        return self.temp / "hookctl-action"


def run_step(
    spec: Mapping[str, Any],
    runner_temp: Path,
    action_path: Path,
    context: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run one `run:` step of action.yml with bash, as a GitHub runner does."""
    step_env = {
        key: EXPRESSION.sub(lambda m: context[m.group(1)], str(value))
        for key, value in spec.get("env", {}).items()
    }
    outputs = runner_temp / "output.txt"
    outputs.write_text("")
    script = runner_temp / "step.sh"
    script.write_text(spec["run"])
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT if spec.get("id") == "install" else STEP_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=runner_temp,
        env={
            **base,
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(action_path),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_PATH": str(runner_temp / "path.txt"),
            "GITHUB_STEP_SUMMARY": str(runner_temp / "summary.md"),
            "RUNNER_TEMP": str(runner_temp),
            **(env or {}),
            **step_env,
        },
    )
    parsed = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return Ran(completed.returncode, parsed, completed.stdout, completed.stderr)


def inputs_context(**given: str) -> dict[str, str]:
    context = {
        f"inputs.{name}": given.get(name.replace("-", "_"), str(spec.get("default", "")))
        for name, spec in ACTION["inputs"].items()
    }
    return {**context, "github.token": "not-used"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The install step, run once: the action's checkout (a copy of this one) installed with
    the default `version` (empty)."""
    action_path = tmp_path_factory.mktemp("action") / "hookctl"
    action_path.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, action_path / name)
    for name in ("hookctl", "schemas"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, action_path / name, ignore=ignore)
    temp = tmp_path_factory.mktemp("runner-temp")
    ran = run_step(step("install"), temp, action_path, inputs_context())
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert ran.stdout.strip().endswith("hookctl 0.2.0")
    python = ran.outputs["python"]
    assert Path(python).is_file() and str(temp) in python
    assert (temp / "path.txt").read_text().strip() == str(temp / "hookctl-action" / "bin")
    return Runner(temp, action_path, python)


def run_action(runner: Runner, sandbox: Sandbox, api_key: str, **given: str) -> Ran:
    context = {**inputs_context(**given), "steps.install.outputs.python": runner.python}
    keap = {"KEAP_API_URL": sandbox.api_url, "KEAP_API_KEY": api_key}
    return run_step(step("run"), runner.temp, runner.action_path, context, keap)


def comment_script(runner: Runner, existing: list[dict[str, Any]]) -> list[list[Any]]:
    """Run the action's github-script step under node, with a stand-in `github` that records
    the calls made."""
    [script_step] = [s for s in ACTION["runs"]["steps"] if "github-script" in s.get("uses", "")]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    harness = runner.temp / "comment.js"
    harness.write_text(
        "const calls = [];\n"
        f"const existing = {json.dumps(existing)};\n"
        "const listComments = async () => existing;\n"
        "const github = {\n"
        "  paginate: async (method, args) => { calls.push(['list', args]); return existing; },\n"
        "  rest: { issues: {\n"
        "    listComments,\n"
        "    updateComment: async (args) => { calls.push(['update', args]); },\n"
        "    createComment: async (args) => { calls.push(['create', args]); },\n"
        "  } },\n"
        "};\n"
        "const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };\n"
        f"(async () => {{\n{script_step['with']['script']}\n}})()"
        ".then(() => console.log(JSON.stringify(calls)))"
        ".catch((e) => { console.error(e); process.exit(1); });\n"
    )
    env = {**os.environ, "RUNNER_TEMP": str(runner.temp), "HOOKCTL_COMMAND": "plan"}
    completed = subprocess.run(
        [node, str(harness)],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr
    calls: list[list[Any]] = json.loads(completed.stdout)
    return calls


def test_plan_comment_apply_and_drift_through_the_action(
    runner: Runner, sandbox: Sandbox, api_key: str, api: Api, tmp_path: Path
) -> None:
    config = write_config(tmp_path, sandbox, TWO)
    runner.summary.write_text("")

    planned = run_action(
        runner, sandbox, api_key, command="plan", files=str(config), comment="true"
    )
    assert planned.returncode == 0, planned.stderr  # exit 2 (changes) is not a failure
    assert planned.outputs["exitcode"] == "2" and planned.outputs["changes"] == "true"
    plan_file = planned.outputs["plan-file"]
    assert plan_file == str(runner.work / "plan.json") and Path(plan_file).is_file()
    assert "create" in planned.stdout  # the markdown plan, in the log too
    summary = runner.summary.read_text()
    assert "hookctl plan" in summary and "create" in summary
    comment = (runner.work / "comment.md").read_text()
    marker = f"<!-- hookctl-action:plan files={config} -->"
    assert comment.startswith(marker + "\n")
    assert planned.outputs["markdown-file"] == str(runner.work / "output.md")
    assert comment.split("\n", 1)[1] == (runner.work / "output.md").read_text()
    assert "create" in comment and api_key not in comment

    # The sticky comment: made once, then edited in place.
    [listed, created] = comment_script(runner, existing=[])
    assert listed == ["list", {"owner": "o", "repo": "r", "issue_number": 7}]
    assert created[0] == "create" and created[1]["body"] == comment
    bot = {"login": "github-actions[bot]"}
    mine = {"id": 42, "body": f"{marker}\nold plan", "user": bot}
    other = {"id": 41, "body": "a reviewer's comment", "user": {"login": "reviewer"}}
    # A commenter's plant: the marker, then a fake plan it could later be edited into.
    planted = {"id": 40, "body": f"{marker}\nfake", "user": {"login": "x"}}
    # Another job's comment (another account of a matrix) is not this one's.
    theirs = {
        "id": 39,
        "body": f"<!-- hookctl-action:plan files={config} account=b -->\nx",
        "user": bot,
    }
    [_, updated] = comment_script(runner, existing=[theirs, planted, other, mine])
    assert updated == ["update", {"owner": "o", "repo": "r", "comment_id": 42, "body": comment}]
    [_, not_the_plant] = comment_script(runner, existing=[planted])
    assert not_the_plant[0] == "create"
    assert sandbox.hooks() == []  # nothing written by a plan

    applied = run_action(
        runner, sandbox, api_key, command="apply", files=str(config), args=plan_file
    )
    assert applied.returncode == 0, applied.stderr
    assert applied.outputs["exitcode"] == "0" and applied.outputs["plan-file"] == ""
    assert len(sandbox.hooks()) == 3
    assert "### hookctl apply (exit 0)" in runner.summary.read_text()

    in_sync = run_action(runner, sandbox, api_key, command="drift", files=str(config))
    assert in_sync.returncode == 0
    assert in_sync.outputs["exitcode"] == "0" and in_sync.outputs["changes"] == "false"

    victim = sandbox.hooks()[0]
    assert api.call("DELETE", f"/hooks/{victim.key}").status_code == 204
    drifted = run_action(runner, sandbox, api_key, command="drift", files=str(config))
    assert drifted.returncode == 0, drifted.stderr  # passed through as an output, not a failure
    assert drifted.outputs["exitcode"] == "2" and drifted.outputs["changes"] == "true"
    assert victim.event_key in (runner.work / "output.md").read_text()


def test_an_error_fails_the_step_with_exitcode_1(
    runner: Runner, sandbox: Sandbox, api_key: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.yaml"
    ran = run_action(runner, sandbox, api_key, command="plan", files=str(missing))
    assert ran.returncode == 1
    assert ran.outputs == {
        "exitcode": "1",
        "changes": "false",
        "plan-file": "",
        "markdown-file": str(runner.work / "output.md"),
        "accounts": "",
    }
    assert "no-such.yaml" in ran.stderr and "Traceback" not in ran.stderr
    wrong = run_action(runner, sandbox, api_key, command="destroy")
    assert wrong.returncode == 1 and "command must be" in wrong.stdout


def test_inputs_are_never_run_as_shell_code(
    runner: Runner, sandbox: Sandbox, api_key: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}) `touch {marker}`; touch {marker}"
    for name in ("files", "args", "account"):
        ran = run_action(runner, sandbox, api_key, command="validate", **{name: hostile})
        assert ran.returncode != 0
        assert not marker.exists(), name
    # No script of the action pastes an expression into its text: inputs come through env.
    for spec in ACTION["runs"]["steps"]:
        assert "${{" not in spec.get("run", "") and "${{" not in spec.get("with", {}).get(
            "script", ""
        )


def test_a_fleet_through_the_action_accounts_matrix_comments_and_one_saved_plan(
    runner: Runner, sandbox: Sandbox, api_key: str, tmp_path: Path
) -> None:
    """The fleet recipe's steps: `accounts` gives the matrix; each account's plan job keeps a
    comment of its own; the merge job's plan file covers every account and is applied whole."""
    clients = tmp_path / "clients"
    clients.mkdir()
    for name in ("acme", "globex"):
        (clients / f"{name}.yaml").write_text(
            "version: 1\naccount: {credentials: {api_key_env: KEAP_API_KEY}}\nhooks:\n"
            f"  - {{name: {name}, url: '{sandbox.receiver_url}/{name}', events: [contact.add]}}\n"
        )
    listed = run_action(runner, sandbox, api_key, command="accounts", files=f"{clients}/*.yaml")
    assert listed.returncode == 0, listed.stderr
    matrix = json.loads(listed.outputs["accounts"])
    assert [row["name"] for row in matrix] == ["acme", "globex"]
    assert matrix[0]["credential_variables"] == ["KEAP_API_KEY"]
    assert listed.outputs["markdown-file"] == ""

    markers = set()
    for row in matrix:
        ran = run_action(
            runner,
            sandbox,
            api_key,
            command="plan",
            files=str(clients),
            account=row["name"],
            comment="true",
        )
        assert ran.returncode == 0 and ran.outputs["changes"] == "true", ran.stderr
        markers.add((runner.work / "marker.txt").read_text())
    assert markers == {
        f"<!-- hookctl-action:plan files={clients} account=acme -->\n",
        f"<!-- hookctl-action:plan files={clients} account=globex -->\n",
    }

    planned = run_action(runner, sandbox, api_key, command="plan", files=str(clients))
    saved = json.loads(Path(planned.outputs["plan-file"]).read_text())
    assert [each["label"] for each in saved["accounts"]] == ["acme", "globex"]
    assert "## acme" in Path(planned.outputs["markdown-file"]).read_text()
    applied = run_action(
        runner, sandbox, api_key, command="apply", args=planned.outputs["plan-file"]
    )
    assert applied.returncode == 0, applied.stderr
    assert {hook.hook_url.rsplit("/", 1)[1] for hook in sandbox.hooks()} == {"acme", "globex"}
