"""An id no row can have, given to any `digest` command that takes one, exits 2 with a message naming
it, never a traceback from the database refusing the number. The commands are read from the CLI
itself, so a command added later cannot forget it."""

from __future__ import annotations

import pytest
import typer

from digest.cli.common import app
from tests.cli import digest

OUT_OF_RANGE = ["2147483648", "9223372036854775808", "1" + "0" * 40, "0", "-1"]


def _is_id(param) -> bool:
    return param.name.endswith("_id") or param.name == "feed"


def _commands_with_ids(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands_with_ids(command, (*prefix, name))
        else:
            for param in command.params:
                if _is_id(param):
                    yield (*prefix, name), command, param


def _argv(words: tuple[str, ...], command, bad, value: str) -> list[str]:
    """The command with `value` for the id `bad` and a plausible value for everything else it requires."""
    argv = list(words)
    for param in command.params:
        given = value if param is bad else "1"
        if param.param_type_name == "argument":
            argv.append(given)
        elif param is bad or param.required:
            argv += [param.opts[0], given]
    return argv


COMMANDS = list(_commands_with_ids(typer.main.get_command(app)))


def test_the_commands_with_ids_are_found():
    names = {" ".join(words) for words, _, _ in COMMANDS}
    assert {"editions show", "editions add-article", "feeds pause", "feeds poll", "ops retry-failed"} <= names


@pytest.mark.parametrize("words, command, param", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_an_id_no_row_can_have_exits_2_naming_it(settings, words, command, param):
    for value in OUT_OF_RANGE:
        result = digest(*_argv(words, command, param, value), stdin="")
        output = result.stdout + result.stderr
        assert result.returncode == 2, (value, output)
        assert value in output and "Traceback" not in output, output
