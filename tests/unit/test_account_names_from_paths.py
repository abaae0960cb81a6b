"""How a file of one unnamed account is named among several: the shortest part of its path
that tells the files apart (engine.selection.path_names), pure."""

from __future__ import annotations

import pytest

from hookctl import config
from hookctl.engine.selection import path_names, select
from hookctl.errors import HookctlError


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
