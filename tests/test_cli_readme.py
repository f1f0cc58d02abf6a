"""Every command the README shows works as written after `make serve` / `make test`.

The README's ```bash blocks are read line by line: each program they run must exist (the
`make` targets in the Makefile, `.venv/bin/videogate` as the installed console script, the
rest on PATH), and every `videogate` call, there or in the prose, must parse with the real
parser and name a command whose `--help` answers 0.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from videogate.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
VENV_BIN = ".venv/bin/"


def substitutions(text: str) -> tuple[str, list[str], int]:
    """`text` with each `$( … )` replaced by X, their contents, and how many stay open
    (a quote-aware scan: a `)` inside quotes closes nothing)."""
    outer, inner, depth, quote, start, i = "", [], 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"" and (depth or c == "'"):
            quote = c
        elif text.startswith("$(", i):
            if depth == 0:
                start = i + 2
            depth += 1
            i += 2
            continue
        elif c == ")" and depth:
            depth -= 1
            if depth == 0:
                inner.append(text[start:i])
                outer += "X"
            i += 1
            continue
        if depth == 0:
            outer += c
        i += 1
    return outer, inner, depth


def bash_lines() -> list[str]:
    """The README's bash blocks as logical lines: continuations and open `$(` joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending} {line}" if pending else line
            if pending.strip() and not substitutions(pending)[2]:
                lines.append(pending)
                pending = ""
        assert not pending, f"unclosed $( in the README: {pending!r}"
    return lines


def invocations(line: str) -> list[list[str]]:
    """The commands a line runs: each part of a pipeline or list, and each `$( … )`'s."""
    outer, inner, _ = substitutions(line)
    found: list[list[str]] = []
    for text in inner:
        found += invocations(text)
    words = shlex.split(outer, comments=True)
    current: list[str] = []
    redirect = False
    for word in [*words, ";"]:
        if redirect or word in (">", ">>", "<", "2>"):
            redirect = not redirect  # the operator, then its file: neither is an argument
        elif word in ("|", ";", "&&", "||"):
            while current and re.fullmatch(r"[A-Za-z_]+=.*", current[0]):
                current.pop(0)  # VAR=value before a command, or a bare assignment
            if current:
                found.append(current)
            current = []
        else:
            current.append(word)
    return found


def program_path(word: str) -> Path | None:
    """Where `word` runs from: `.venv/bin/X` is the environment running these tests (the one
    `make` creates), other names are looked up on PATH."""
    if word.startswith(VENV_BIN):
        local = ROOT / word
        return local if local.exists() else Path(sys.executable).parent / word[len(VENV_BIN) :]
    found = shutil.which(word)
    return Path(found) if found else None


def videogate_calls() -> list[list[str]]:
    """Arguments of every `videogate` call: the bash blocks', then the prose's code spans."""
    calls = [
        cmd[1:]
        for line in bash_lines()
        for cmd in invocations(line)
        if cmd[0].endswith("videogate")
    ]
    for span in re.findall(r"`((?:\.venv/bin/)?videogate [^`]+)`", README):
        words = span.replace("\n", " ").split()[1:]
        # prose shows placeholders (NAME, ID, <vk id>, "…") and optional parts ([--host H])
        words = [w.strip("[]") for w in words if w not in ("…", '"…"')]
        if words and words[0].isupper():
            words = words[1:]  # `videogate COMMAND --help`: any command
        calls.append(words)
    return calls


def command_path(words: list[str]) -> tuple[list[str], argparse_parser]:
    """The leading words that are (sub)commands, and the parser they reach."""
    parser = build_parser()
    path: list[str] = []
    for word in words:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs or word not in subs[0].choices:  # type: ignore[operator]
            break
        parser = subs[0].choices[word]  # type: ignore[index]
        path.append(word)
    return path, parser


argparse_parser = type(build_parser())


def test_the_readme_runs_these_programs() -> None:
    programs = {cmd[0] for line in bash_lines() for cmd in invocations(line)}
    assert {"make", f"{VENV_BIN}videogate", "curl"} <= programs, programs
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    for line in bash_lines():
        for cmd in invocations(line):
            if cmd[0] == "make":
                assert set(cmd[1:]) <= targets, f"{line!r}: no such make target"
            elif cmd[0] in ("eval", "echo", "export", "cd"):
                continue  # shell builtins
            else:
                assert program_path(cmd[0]), f"{line!r}: {cmd[0]} is not installed"
    for target in re.findall(r"`make (\w+)`", README):
        assert target in targets, f"`make {target}` has no target"


def test_readme_commands_use_the_installed_script() -> None:
    """A bare `videogate` in a bash block is not on PATH after `make serve`."""
    bare = [line for line in bash_lines() for cmd in invocations(line) if cmd[0] == "videogate"]
    assert not bare, f"write .venv/bin/videogate: {bare}"
    script = program_path(f"{VENV_BIN}videogate")
    assert script and script.exists(), f"{script}: the console script is not installed"
    run = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "usage: videogate" in run.stdout, run.stderr


def test_every_videogate_call_parses_and_its_help_answers() -> None:
    calls = videogate_calls()
    assert len(calls) > 15, "the README's videogate calls were not found"
    helped: set[tuple[str, ...]] = set()
    for words in calls:
        path, parser = command_path(words)
        assert path or all(w.startswith("--") for w in words), f"videogate {words}: no command"
        known = {opt for action in parser._actions for opt in action.option_strings}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"videogate {' '.join(path)}: no {word}"
        if tuple(path) not in helped:
            helped.add(tuple(path))
            out = io.StringIO()
            with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as ended:
                main([*path, "--help"])
            assert ended.value.code == 0 and "usage: videogate" in out.getvalue()
    # the bash blocks' calls are complete command lines: the parser must accept them whole
    for line in bash_lines():
        for cmd in invocations(line):
            if cmd[0].endswith("videogate"):
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    try:
                        build_parser().parse_args(cmd[1:])
                    except SystemExit:
                        pytest.fail(f"{line!r} does not parse: {err.getvalue()}")
