"""The README's and the docs' commands run as written: every ``latentdim ...`` line of
their ``sh`` blocks parses (its command, options and values exist), and the short ones
(making and reading data, listing studies) run in a fresh folder. The long ones
(sweeps, training, estimates) are parsed only."""

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from latentdim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK = {"make-data", "info"}  # run as written, in order, in one folder


def commands(page: Path) -> list[list[str]]:
    """The ``latentdim`` command lines of a page's sh blocks (continuations joined,
    comments dropped), as argument lists without the program name."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "latentdim":
                found.append(words[1:])
    return found


ALL = [(page.relative_to(ROOT).as_posix(), args) for page in PAGES for args in commands(page)]


def test_the_pages_have_commands():
    assert {"README.md", "docs/data.md", "docs/estimate.md", "docs/studies.md"} <= {page for page, _ in ALL}
    assert len(ALL) >= 20


@pytest.mark.parametrize(("page", "args"), ALL, ids=[f"{p}: {' '.join(a)}" for p, a in ALL])
def test_a_documented_command_parses(page, args):
    name, *rest = args
    command = cli.commands.get(name)
    assert command is not None, f"{page}: no command {name!r}"
    try:
        with command.make_context(name, rest):
            pass
    except click.UsageError as exc:
        pytest.fail(f"{page}: latentdim {' '.join(args)}: {exc.format_message()}")


def test_the_short_commands_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "synthetic").symlink_to(ROOT / "synthetic")
    ran = 0
    for page, args in ALL:
        if args[0] in QUICK:
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, f"{page}: latentdim {' '.join(args)}: {result.output}"
            ran += 1
    assert ran >= 4
    listing = CliRunner().invoke(cli, ["sweep", "--list"])
    assert listing.exit_code == 0 and "table1-conv" in listing.stdout
