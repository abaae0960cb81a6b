"""The GitLab recipe's shell steps, run with bash, curl and jq against a stand-in of GitLab's
REST API on loopback: the plan posts one merge-request note and edits it on every later run;
drift opens one issue, updates it while drifted, and closes it once in sync."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPE: dict[str, Any] = yaml.safe_load((ROOT / "examples/ci/gitlab/.gitlab-ci.yml").read_text())
TOKEN = "glpat-RECOGNISABLE-token"


class GitLab(ThreadingHTTPServer):
    """Notes and issues of project 1, and every request made (method, path, form)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.notes: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []


class Handler(BaseHTTPRequestHandler):
    server: GitLab

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        assert self.headers["PRIVATE-TOKEN"] == TOKEN
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        self.server.requests.append((self.command, path, form))
        gitlab = self.server
        if path == "/api/v4/projects/1/merge_requests/7/notes":
            if self.command == "POST":
                gitlab.notes.append({"id": 100 + len(gitlab.notes), "body": form["body"]})
            return self._answer(gitlab.notes)
        if path.startswith("/api/v4/projects/1/merge_requests/7/notes/"):
            [note] = [n for n in gitlab.notes if str(n["id"]) == path.rsplit("/", 1)[1]]
            note["body"] = form["body"]
            return self._answer(note)
        if path == "/api/v4/projects/1/issues":
            if self.command == "POST":
                gitlab.issues.append({"iid": 1 + len(gitlab.issues), "state": "opened", **form})
                return self._answer(gitlab.issues[-1])
            return self._answer([i for i in gitlab.issues if i["state"] == "opened"])
        [issue] = [i for i in gitlab.issues if str(i["iid"]) == path.rsplit("/", 1)[1]]
        if form.get("state_event") == "close":
            issue["state"] = "closed"
        issue.update({k: v for k, v in form.items() if k == "description"})
        return self._answer(issue)

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture
def gitlab() -> Iterator[GitLab]:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("curl and jq are needed to run the recipe's steps")
    server = GitLab()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def step(job: str, holding: str) -> str:
    [found] = [line for line in RECIPE[job]["script"] if holding in line]
    return str(found)


def run(script: str, cwd: Path, gitlab: GitLab, **env: str) -> None:
    host, port = gitlab.server_address[:2]
    variables = {
        "PATH": "/usr/bin:/bin",
        "CI_API_V4_URL": f"http://{host!s}:{port}/api/v4",
        "CI_PROJECT_ID": "1",
        "CI_JOB_URL": "https://gitlab.example/job/9",
        "HOOKCTL_GITLAB_TOKEN": TOKEN,
        "HOOKCTL_FILES": "clients/",
        **env,
    }
    completed = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=variables,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr
    assert TOKEN not in completed.stdout + completed.stderr


def test_the_plan_posts_one_merge_request_note_and_edits_it(gitlab: GitLab, tmp_path: Path) -> None:
    script = step("hookctl-plan", "merge_requests")
    (tmp_path / "plan.md").write_text("### hookctl plan\n\n1 to create\n")
    run(script, tmp_path, gitlab, CI_MERGE_REQUEST_IID="7")
    gitlab.notes.insert(0, {"id": 5, "body": "a reviewer's note"})
    (tmp_path / "plan.md").write_text("### hookctl plan\n\nNo changes.\n")
    run(script, tmp_path, gitlab, CI_MERGE_REQUEST_IID="7")
    assert [note["id"] for note in gitlab.notes] == [5, 100]
    assert gitlab.notes[1]["body"] == (
        "<!-- hookctl-plan files=clients/ -->\n### hookctl plan\n\nNo changes.\n"
    )
    writes = [(method, path) for method, path, _ in gitlab.requests if method != "GET"]
    assert writes == [
        ("POST", "/api/v4/projects/1/merge_requests/7/notes"),
        ("PUT", "/api/v4/projects/1/merge_requests/7/notes/100"),
    ]
    # Not a merge request (the main branch's plan): no note.
    before = len(gitlab.requests)
    run(script, tmp_path, gitlab)
    assert len(gitlab.requests) == before


def test_drift_opens_one_issue_updates_it_and_closes_it_in_sync(
    gitlab: GitLab, tmp_path: Path
) -> None:
    script = step("hookctl-drift", "hookctl-drift&state=opened")
    (tmp_path / "drift.md").write_text("drifted: 1 to create\n")
    run("status=2\n" + script, tmp_path, gitlab)
    run("status=2\n" + script, tmp_path, gitlab)
    [issue] = gitlab.issues
    assert issue["labels"] == "hookctl-drift" and issue["state"] == "opened"
    assert issue["description"].startswith("drifted: 1 to create")
    assert "https://gitlab.example/job/9" in issue["description"]
    run("status=0\n" + script, tmp_path, gitlab)
    assert issue["state"] == "closed"
    run("status=1\n" + script, tmp_path, gitlab)  # an error: the issue is left as it is
    assert len(gitlab.issues) == 1
