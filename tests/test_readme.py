"""The README's commands cannot drift: every flag its shell blocks give ``pytest`` or an
``otel-pytest`` subcommand is one that command's ``--help`` lists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from otel_pytest.cli import main

README = Path(__file__).parent.parent / "README.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def shell_commands() -> list[list[str]]:
    """The words of each command in the README's ``bash`` blocks, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]


def flags_given(program: str) -> list[tuple[str, ...]]:
    """(subcommand or nothing, flag) for every flag the README passes to ``program``."""
    found: list[tuple[str, ...]] = []
    for words in shell_commands():
        words = [w for w in words if not re.fullmatch(r"[A-Z_]+=.*", w)]  # VAR=value prefixes
        if not words or words[0] != program:
            continue
        sub = () if program == "pytest" else (words[1],)
        found += [(*sub, w.split("=")[0]) for w in words[1:] if w.startswith("--")]
    return found


def test_the_readme_passes_flags_to_both_commands() -> None:
    assert ("--otel",) in flags_given("pytest")
    assert {sub for sub, *_ in flags_given("otel-pytest")} >= {"analyze"}


def test_every_pytest_flag_in_the_readme_is_in_pytest_help(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    known = set(FLAG.findall(done.stdout))
    assert [flag for (flag,) in flags_given("pytest") if flag not in known] == []


def test_every_otel_pytest_flag_in_the_readme_is_in_its_subcommands_help(capsys: pytest.CaptureFixture[str]) -> None:
    missing = []
    for sub, flag in flags_given("otel-pytest"):
        with pytest.raises(SystemExit):
            main([sub, "--help"])
        if flag not in FLAG.findall(capsys.readouterr().out):
            missing.append((sub, flag))
    assert missing == []
