"""Issue 13, the input and file side: tokens in hook urls kept out of an imported hooks file,
atomic writes, `-f` paths that are loops, FIFOs or devices, a `--notify` url that is not one,
odd YAML tags, url prefixes with no path, and `import --prefix` at url boundaries.

Black box through the command line (the `cli` fixture, or a child process where the failure is a
hang or a resource limit) against the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.cli import Cli

from hookctl.sandbox import Sandbox

TOKEN = "tk-1f3a9c-SECRET-77b0"
# What import says to set: a line per variable, `  NAME  key KEY`.
TO_SET = re.compile(r"^  ([A-Z0-9_]+) +key (\S+)$", re.MULTILINE)


def _one_error_line(err: str, *, containing: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("hookctl: error:")]
    assert len(lines) == 1, err
    assert containing in lines[0], err
    assert "Traceback" not in err


# -- 1. import writes ${VAR} placeholders, never a query value ---------------------------------


def _seed_tokens(sandbox: Sandbox) -> dict[str, str]:
    """Receivers that authenticate Keap by a token in the url; returns each url by name."""
    base = sandbox.receiver_url
    urls = {
        "orders": f"{base}/keap/orders?token={TOKEN}",
        "contacts": f"{base}/keap/contacts?id=7&sig={TOKEN}-2#{TOKEN}-3",
        # Values that look like hooks.yaml's own syntax come back as they are.
        "odd": f"{base}/keap/odd?t=${{HOME}}}}$$&bare{TOKEN}-4",
        "plain": f"{base}/keap/plain",
    }
    sandbox.seed(
        [
            ("order.add", urls["orders"], "Verified"),
            ("order.edit", urls["orders"], "Verified"),
            ("contact.add", urls["contacts"], "Verified"),
            ("note.add", urls["odd"], "Verified"),
            ("task.add", urls["plain"], "Verified"),
        ]
    )
    return urls


def test_import_writes_placeholders_not_url_tokens_and_the_round_trip_holds(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = _seed_tokens(env)
    out = tmp_path / "hooks.yaml"
    ran = cli.run("-vv", "import", "-o", str(out))
    err = ran.err
    text = out.read_text()
    assert TOKEN not in text and TOKEN not in err
    # The file reads its query values from variables named after entry and parameter.
    declared = {entry["name"]: entry["url"] for entry in yaml.safe_load(text)["hooks"]}
    # Named after what tells the urls apart: the path under what they share.
    orders = declared["orders"]
    assert orders.endswith("/keap/orders?token=${HOOK_ORDERS_TOKEN}")
    assert declared["plain"] == urls["plain"]
    # stderr names every variable, and the key whose url holds its value.
    named = dict(TO_SET.findall(err))
    in_file = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    assert set(named) == in_file and len(in_file) == 6
    assert "hooks get KEY --reveal -f FILE" in err

    # Without the variables a plan refuses the file, naming every one of them.
    refused = cli.run("plan", "-f", str(out), status=1).err
    assert all(name in refused for name in in_file)

    # With each set to the value the named key's url holds, a plan finds nothing to do.
    live = {hook.key: hook.hook_url for hook in env.hooks()}
    for name, key in named.items():
        monkeypatch.setenv(name, _value_of(name, text, live[key]))
    ran = cli.run("plan", "--format", "json", "-f", str(out))
    result: dict[str, Any] = json.loads(ran.out)
    assert result["changes"] == [] and result["summary"]["unchanged"] == 5


def _value_of(name: str, text: str, url: str) -> str:
    """What `hooks get KEY --reveal` would show a person for the variable `name`: read off
    the live `url` at the place the file's url has the placeholder."""
    for entry in yaml.safe_load(text)["hooks"]:
        template: str = entry["url"]
        if "${" + name + "}" not in template:
            continue
        pattern = ""
        for piece in re.split(r"(\$\$|\$\{[A-Z0-9_]+\})", template):
            if piece == "$$":
                pattern += re.escape("$")
            elif piece.startswith("${"):
                # A fragment runs to the end of the url; a query value to the next & or #.
                body = ".*" if pattern.endswith(re.escape("#")) else "[^&#]*"
                pattern += f"(?P<want>{body})" if piece[2:-1] == name else body
            else:
                pattern += re.escape(piece)
        found = re.fullmatch(pattern, url)
        assert found, (template, url)
        return found.group("want")
    raise AssertionError(f"{name} is in no url")


def test_import_to_stdout_holds_no_token_either(env: Sandbox, cli: Cli) -> None:
    _seed_tokens(env)
    assert TOKEN not in cli.run("import").shown


# -- 2. import -o is atomic --------------------------------------------------------------------


def test_a_full_disk_leaves_the_old_hooks_file_intact(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    """A real short write: the child may write files of 4 KiB at most (RLIMIT_FSIZE), and the
    imported file is larger, as a hooks file on a nearly full disk would be."""
    env.seed([("contact.add", f"{env.receiver_url}/r{i}", "Verified") for i in range(60)])
    out = tmp_path / "hooks.yaml"
    out.write_text("version: 1\nhooks: []  # the reviewed file\n")
    before = out.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from hookctl.cli.commands import main
        sys.exit(main(["import", "-o", {str(out)!r}, "--force"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["hooks.yaml"]  # no temporary file left
    assert done.stderr.strip().splitlines() == [
        f"hookctl: error: {out}: cannot write the hooks file: File too large"
    ]


def test_a_failed_flush_to_disk_keeps_the_old_file_and_says_so_in_one_line(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _seed_tokens(env)
    out = tmp_path / "hooks.yaml"
    out.write_text("old\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    result = cli.run("import", "-o", str(out), "--force", status=1)
    _one_error_line(result.err, containing=f"{out}: cannot write the hooks file")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["hooks.yaml"]


# -- 3. -f paths that are loops, FIFOs or devices ----------------------------------------------

VALID = "version: 1\nhooks: []\n"


def _loop_of_two(d: Path) -> str:
    (d / "a.yaml").symlink_to("b.yaml")
    (d / "b.yaml").symlink_to("a.yaml")
    return "a.yaml"


def _loop_of_one(d: Path) -> str:
    (d / "self.yaml").symlink_to("self.yaml")
    return "self.yaml"


def _loop_through_a_directory(d: Path) -> str:
    # d/x.yaml -> e/x.yaml, and e is d: the file points at itself through the directory.
    (d / "x.yaml").symlink_to(d / "e" / "x.yaml")
    (d / "e").symlink_to(d)
    return "x.yaml"


@pytest.mark.parametrize("make", [_loop_of_two, _loop_of_one, _loop_through_a_directory])
def test_a_symlink_loop_inside_a_directory_is_a_one_line_error(
    tmp_path: Path, cli: Cli, make: Any
) -> None:
    d = tmp_path / "clients"
    d.mkdir()
    (d / "0-good.yaml").write_text(VALID)
    looped = make(d)
    result = cli.run("validate", "--offline", "-f", str(d), status=1)
    _one_error_line(result.err, containing=f"{d / looped}: cannot read: Too many")


def _validate_in_a_child(path: str) -> subprocess.CompletedProcess[str]:
    # A child, with a timeout: reading a FIFO no one writes to would wait forever.
    return subprocess.run(
        [sys.executable, "-m", "hookctl", "validate", "--offline", "-f", path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_fifo_given_with_f_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "hooks.yaml"
    os.mkfifo(fifo)
    done = _validate_in_a_child(str(fifo))
    assert done.returncode == 1
    _one_error_line(done.stderr, containing=f"{fifo}: is a FIFO, not a regular file")


def test_a_fifo_inside_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID)
    os.mkfifo(tmp_path / "b.yaml")
    done = _validate_in_a_child(str(tmp_path))
    assert done.returncode == 1
    _one_error_line(done.stderr, containing=f"{tmp_path / 'b.yaml'}: is a FIFO")


def test_a_device_given_with_f_is_refused(cli: Cli) -> None:
    result = cli.run("validate", "--offline", "-f", "/dev/zero", status=1)
    _one_error_line(result.err, containing="/dev/zero: is a character device")


# -- 4. drift --notify with a url that is not one ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1/x", "--notify: not a valid url"),
        ("http://127.0.0.1:notaport/x", "--notify: not a valid url"),
        ("http://hooks.exa\u2028mple.com/x", "--notify: the url holds spaces or control"),
        ("http://" + "a" * 300 + ".example.com/x", "could not notify aaaa"),
    ],
)
def test_an_invalid_notify_url_is_one_line_and_keeps_drifts_exit_code(
    config: Path, env: Sandbox, cli: Cli, url: str, message: str
) -> None:
    # Nothing applied yet: the account lacks what the file declares, so it has drifted.
    result = cli.run("drift", "-f", str(config), "--notify", url, status=2)
    err = result.err
    _one_error_line(err, containing=message)
    assert "\u2028" not in err
    cli.run("apply", "-f", str(config), "--auto-approve")
    # No drift: still 0, and still told (before it matters) that the url is no good, unless
    # only a post would find out.
    result = cli.run("drift", "-f", str(config), "--notify", url)
    err = result.err
    if message.startswith("--notify"):
        _one_error_line(err, containing=message)
    else:
        assert err == ""


# -- 5. the loader: odd YAML tags, url prefixes with no path -----------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "!!int !",
        "!!float !",
        '!!int ""',
        "!!int _",
        "!!float ''",
        '!!int "-"',
        "!!float _",
        "!!int",
    ],
)
def test_an_odd_yaml_tag_is_a_located_error(tmp_path: Path, cli: Cli, value: str) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(f"version: {value}\nhooks: []\n")
    result = cli.run("validate", "--offline", "-f", str(path), status=1)
    err = result.err
    # One line about the value (`!!int !` also breaks the YAML after it, which gets its own).
    lines = err.splitlines()
    assert lines[0].startswith(f"hookctl: error: {path}:1:10: version: ")
    assert "is not a usable number" in lines[0]
    assert all(re.match(f"hookctl: error: {re.escape(str(path))}:\\d+:\\d+: ", x) for x in lines)


def test_a_url_prefix_with_no_path_warns_that_it_owns_the_whole_host(
    tmp_path: Path, cli: Cli
) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\n"
        "ownership:\n"
        "  url_prefixes:\n"
        "    - https://hooks.example.com\n"
        "    - https://hooks.example.com/\n"
        "    - https://hooks.example.com/keap\n"
        "hooks: []\n"
    )
    result = cli.run("validate", "--offline", "-f", str(path))
    err = result.err
    [warning] = err.splitlines()
    assert warning.startswith(f"hookctl: WARNING: {path}:4:7: ownership.url_prefixes[0]: ")
    assert "owns every url on hooks.example.com" in warning


# -- 6. import --prefix at url boundaries ------------------------------------------------------


def test_import_prefix_selects_at_url_boundaries(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    base = env.receiver_url
    env.seed(
        [
            ("contact.add", f"{base}/ours", "Verified"),
            ("contact.add", f"{base}/ours/a", "Verified"),
            ("contact.add", f"{base}/ours-other/b", "Verified"),
            ("contact.add", f"{base}/oursx", "Verified"),
        ]
    )
    out = tmp_path / "hooks.yaml"
    cli.run("import", "-o", str(out), "--prefix", f"{base}/ours")
    imported = {entry["url"] for entry in yaml.safe_load(out.read_text())["hooks"]}
    assert imported == {f"{base}/ours", f"{base}/ours/a"}
    ran = cli.run("plan", "--format", "json", "-f", str(out))
    result = json.loads(ran.out)
    assert result["changes"] == [] and result["summary"]["unmanaged"] == 2
