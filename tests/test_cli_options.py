"""The command line itself: `--version`, help on every option, shell completion."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from videogate import __version__
from videogate.cli import SHELLS, build_parser

ROOT = Path(__file__).resolve().parent.parent


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, list[argparse.Action]]]:
    """Every parser of the tree with the command words that reach it and its actions."""
    yield path, parser, list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


def test_every_option_of_every_command_has_help() -> None:
    missing: list[str] = []
    seen = 0
    for path, _parser, actions in commands(build_parser()):
        seen += 1
        for action in actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {a.dest for a in action._choices_actions if a.help}
                missing += [
                    " ".join(("videogate", *path, name))
                    for name in action.choices
                    if name not in described
                ]
            elif not action.help or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.dest
                missing.append(" ".join(("videogate", *path, name)))
    assert seen > 20, "the walk found too few commands: is the tree still argparse's?"
    assert not missing, "no help text: " + ", ".join(missing)


def test_version_matches_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    run = subprocess.run(
        [sys.executable, "-m", "videogate", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"videogate {__version__}\n"


def complete(line: str) -> list[str]:
    """What `videogate` answers when a shell asks it to complete `line` (argcomplete's protocol:
    the line in the environment, the answer in a file, one completion per line)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"vg-complete-{os.getpid()}"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "videogate"], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return [word.strip() for word in out.read_text().split("\n")]
    finally:
        out.unlink(missing_ok=True)


def test_completion_answers_from_the_parser() -> None:
    assert "keys" in complete("videogate ke")
    assert {"--budget-usd", "--budget-period"} <= set(complete("videogate keys create --bud"))
    assert set(SHELLS) <= set(complete("videogate completion "))
    assert "granian" in complete("videogate serve --server g")


def test_completion_code_for_each_shell() -> None:
    marks = {"bash": "complete ", "zsh": "compdef", "fish": "complete --command videogate"}
    for shell in SHELLS:
        run = subprocess.run(
            [sys.executable, "-m", "videogate", "completion", shell],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert marks[shell] in run.stdout and "videogate" in run.stdout


def test_bash_completes_through_the_generated_code() -> None:
    """The bash code really wires `videogate` up: a completion function run as bash runs it."""
    script = Path(sys.executable).parent / "videogate"
    if not script.exists():
        pytest.fail(f"the console script {script} is not installed (pip install -e .)")
    bash = shutil.which("bash")
    assert bash, "bash is needed for this test"
    env = {**os.environ, "PATH": f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    program = (
        'eval "$(videogate completion bash)"\n'
        'COMP_LINE="videogate tok"; COMP_POINT=${#COMP_LINE}\n'
        "COMP_WORDS=(videogate tok); COMP_CWORD=1\n"
        "_python_argcomplete videogate\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    run = subprocess.run([bash, "-c", program], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["token"]
