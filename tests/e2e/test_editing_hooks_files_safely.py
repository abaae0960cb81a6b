"""fmt and import --update edit a hooks file as a careful editor would: aliases are refused
before anything expands them, the file keeps its mode, a symlink is followed and kept, a
read-only file is refused, and an edit saved while they ran is never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox
from hookctl.tools import fmt

# Keys out of canonical order, so that fmt has something to write.
UNFORMATTED = (
    "hooks:\n- events: [contact.add]\n  name: a\n  url: https://h.example.com/a\nversion: 1\n"
)

# The billion laughs: nine levels of ten aliases each.
LAUGHS = 'version: 1\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fmt_refuses_aliases_before_expanding_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(LAUGHS)
    # Expanding the aliases is what must not happen: any full load fails the test at once.
    monkeypatch.setattr(fmt, "_pyyaml", _no_full_load)
    assert main(["fmt", "--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "hooks.yaml:3:" in err and "aliases" in err and "Traceback" not in err


def _no_full_load(text: str, source: str) -> Any:
    raise AssertionError("fmt loaded a file with aliases")


def test_fmt_keeps_the_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(UNFORMATTED)
    path.chmod(0o600)
    assert main(["fmt", str(path)]) == 0
    assert path.read_text().startswith("version: 1\n")
    assert _mode(path) == 0o600


def test_fmt_follows_a_symlink_and_keeps_it(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(UNFORMATTED)
    link = tmp_path / "hooks.yaml"
    link.symlink_to(real)
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink()
    assert real.read_text().startswith("version: 1\n")


def test_fmt_refuses_a_read_only_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(UNFORMATTED)
    path.chmod(0o444)
    assert main(["fmt", str(path)]) == 1
    assert "read-only" in capsys.readouterr().err
    assert path.read_text() == UNFORMATTED


def test_fmt_never_overwrites_an_edit_saved_while_it_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(UNFORMATTED)
    saved = UNFORMATTED + "# a colleague's edit\n"
    real_format = fmt.format_text

    def then_someone_saves(text: str, source: str = "hooks.yaml") -> str:
        formatted = real_format(text, source)
        path.write_text(saved)
        return formatted

    monkeypatch.setattr(fmt, "format_text", then_someone_saves)
    assert main(["fmt", str(path)]) == 1
    assert "changed since hookctl read it" in capsys.readouterr().err
    assert path.read_text() == saved


def test_import_update_keeps_the_files_mode(env: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    url = f"{env.receiver_url}/managed/a"
    path.write_text(
        f"version: 1\nownership:\n  url_prefixes: ['{env.receiver_url}/managed/']\n"
        f"hooks:\n  - name: a\n    url: {url}\n    events: [contact.add]\n"
    )
    path.chmod(0o600)
    assert main(["apply", "-f", str(path), "--yes"]) == 0
    assert main(["hooks", "create", "contact.edit", url]) == 0
    assert main(["import", "--update", str(path)]) == 0
    assert "contact.edit" in path.read_text()
    assert _mode(path) == 0o600
