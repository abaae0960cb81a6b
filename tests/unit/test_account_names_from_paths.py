"""How a file of one unnamed account is named among several: the shortest part of its path
that tells the files apart (engine.selection.path_names), pure."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookctl import config
from hookctl.engine.selection import (
    Selected,
    Selection,
    choose,
    path_names,
    select,
    settled_names,
)
from hookctl.errors import ConfigError, HookctlError


@pytest.mark.parametrize(
    ("paths", "names"),
    [
        (["envs/staging/hooks.yaml", "envs/prod/hooks.yaml"], ["staging", "prod"]),
        (["services/crm/keap-hooks.yaml", "services/billing/keap-hooks.yml"], ["crm", "billing"]),
        (["clients/acme.yaml", "clients/globex.yml"], ["acme", "globex"]),
        # Mixed layouts, as pre-commit passes them.
        (
            ["envs/staging/hooks.yaml", "envs/prod/hooks.yaml", "services/crm/keap-hooks.yaml"],
            ["staging", "prod", "crm"],
        ),
        # Directories above are added only where two would clash.
        (
            ["a/staging/hooks.yaml", "b/staging/hooks.yaml", "c/prod/hooks.yaml"],
            ["a/staging", "b/staging", "prod"],
        ),
        # A file at the top is named by its stem; ./ and a/../ are the same path.
        (["hooks.yaml", "./envs/prod/hooks.yaml"], ["hooks", "prod"]),
    ],
)
def test_each_file_is_named_by_the_part_of_its_path_that_tells_it_apart(
    paths: list[str], names: list[str]
) -> None:
    assert list(path_names(paths).values()) == names


def test_a_directory_shared_with_a_named_file_names_the_others_by_stem() -> None:
    # keap/production.yaml names its account; keap/hooks.yaml still shares the directory.
    assert path_names(["keap/hooks.yaml"], ["keap/hooks.yaml", "keap/production.yaml"]) == {
        "keap/hooks.yaml": "hooks"
    }


def test_names_given_in_the_file_win_and_clash_in_one_line() -> None:
    named = config.read_text(
        "version: 1\naccount: {name: staging}\nhooks: []\n", "envs/a/hooks.yaml"
    )
    by_path = config.read_text("version: 1\nhooks: []\n", "envs/staging/hooks.yaml")
    with pytest.raises(HookctlError, match=r"both name an account 'staging'"):
        select([named, by_path])
    # validate checks each file on its own: no clash there.
    found = select([named, by_path], each_file_alone=True)
    assert [each.label for each in found] == ["staging", "staging"]
    # A file alone keeps "default", unless --account names its directory or stem.
    assert [each.label for each in select([by_path])] == ["default"]
    assert [each.label for each in select([by_path], "staging")] == ["staging"]
    assert [each.label for each in select([by_path], "envs/staging")] == ["envs/staging"]


# Paths drawn from a few parts, so that stems and directories often clash.
PARTS = st.sampled_from(["a", "b", "envs", "staging", "prod", "hooks", "acme"])
PATHS = st.lists(
    st.lists(PARTS, min_size=1, max_size=4).map(lambda parts: "/".join(parts) + ".yaml"),
    min_size=2,
    max_size=8,
    unique=True,
)


@given(PATHS, st.data())
def test_a_settled_name_is_final_whichever_files_turn_out_to_name_their_accounts(
    paths: list[str], data: st.DataObject
) -> None:
    # What lets an account be handed on before the other files are read (choose's `ready`).
    unnamed = data.draw(st.lists(st.sampled_from(paths), unique=True))
    settled = settled_names(paths)
    final = path_names(unnamed, paths)
    for source in unnamed:
        if source in settled:
            assert final[source] == settled[source]


def test_names_that_a_clash_may_change_are_not_settled() -> None:
    paths = [
        "clients/acme.yaml",
        "clients/globex.yaml",
        "a/staging/hooks.yaml",
        "b/staging/hooks.yaml",
    ]
    # a/staging and b/staging, or staging for whichever is unnamed alone: not known yet.
    assert settled_names(paths) == {"clients/acme.yaml": "acme", "clients/globex.yaml": "globex"}


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


ONE = "version: 1\naccount: {%scredentials: {api_key_env: K}}\nhooks: []\n"
MANY = "version: 1\naccounts: {eu: {credentials: {api_key_env: K}}, us: {}}\nhooks: []\n"


def seen(selected: Selected) -> tuple[str, str, object]:
    """What tells a chosen account apart, and what its calls use."""
    return selected.source, selected.label, selected.account


@pytest.mark.parametrize("shard", [None, (0, 2), (1, 2)])
def test_accounts_are_handed_on_as_read_in_the_order_and_labels_choose_returns(
    shard: tuple[int, int] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K", "key")
    files = [
        write(tmp_path / "clients/acme.yaml", ONE % ""),
        write(tmp_path / "clients/globex.yaml", ONE % ""),
        write(tmp_path / "a/staging/hooks.yaml", ONE % ""),
        write(tmp_path / "b/staging/hooks.yaml", ONE % ""),
        write(tmp_path / "own.yaml", ONE % "name: named, "),
        write(tmp_path / "regions.yaml", MANY),
    ]
    asked = Selection(files=tuple(files), shard=shard)
    handed: list[Selected] = []
    found = [seen(each) for each in choose(asked, ready=handed.append)]
    assert found == [seen(each) for each in choose(asked)]
    # Every account handed on is chosen, with the same label, in the same order; those whose
    # name waits for every file (the two staging files) are not among them.
    assert [each for each in found if each in map(seen, handed)] == list(map(seen, handed))
    labels = {each.label for each in handed}
    assert not labels & {"a/staging", "b/staging"}
    if shard is None:
        assert labels == {"acme", "globex", "named", f"{files[-1]}:eu", f"{files[-1]}:us"}


def test_nothing_is_handed_on_after_a_file_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K", "key")
    files = [
        write(tmp_path / "c/a.yaml", ONE % ""),
        write(tmp_path / "c/b.yaml", "version: 1\nhooks: [{name: x}]\n"),
        write(tmp_path / "c/c.yaml", ONE % ""),
        write(tmp_path / "c/d.yaml", "version: 1\nnot_a_field: 1\n"),
    ]
    handed: list[Selected] = []
    with pytest.raises(ConfigError) as raised:
        choose(Selection(files=(str(tmp_path / "c"),)), ready=handed.append)
    assert [each.label for each in handed] == ["a"]
    # One error listing every file's problems, as reading first gives.
    assert {issue.file for issue in raised.value.issues} == {files[1], files[3]}
