"""The README's command line reference is the commands' --help, word for word.

Each block in the README follows a marker ``<!-- fluorodn COMMAND --help -->`` and holds the
help as printed 100 columns wide. After changing an option, rewrite the blocks with
``FLUORODN_UPDATE_README=1 python -m pytest tests/cli/test_readme.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from typer.testing import CliRunner

from fluorodn.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
#: Commands whose help the reference must hold (others may add theirs).
REQUIRED = ("denoise", "watch", "models", "info", "example", "unmix", "report")
BLOCK = re.compile(r"(<!-- fluorodn (?P<command>[a-z-]+) --help -->\n```text\n)(?P<help>.*?)(\n```\n)", re.DOTALL)


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=100, prog_name="fluorodn")
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip()


def test_reference_matches_help() -> None:
    text = README.read_text(encoding="utf-8")
    if os.environ.get("FLUORODN_UPDATE_README"):
        text = BLOCK.sub(lambda m: m[1] + help_text(m["command"]) + m[4], text)
        README.write_text(text, encoding="utf-8")
    blocks = {m["command"]: m["help"] for m in BLOCK.finditer(text)}
    assert set(REQUIRED) <= set(blocks), f"README lacks the help of {set(REQUIRED) - set(blocks)}"
    for command, documented in blocks.items():
        assert documented == help_text(command), (
            f"README's 'fluorodn {command} --help' differs from the command's; rewrite it with "
            "FLUORODN_UPDATE_README=1 python -m pytest tests/cli/test_readme.py"
        )


def test_every_example_keeps_its_own_line() -> None:
    """An epilog's examples print one command a line in an 80-column terminal too: without click's
    no-rewrap marker they run together into one paragraph."""
    for command in REQUIRED:
        result = CliRunner().invoke(app, [command, "--help"], terminal_width=80, prog_name="fluorodn")
        text = result.stdout
        if "Examples:" not in text:
            continue
        examples = text.split("Examples:", 1)[1].strip().splitlines()
        assert examples and all(line.strip().startswith(f"fluorodn {command} ") for line in examples), (
            f"'fluorodn {command} --help' runs its examples together: {examples}"
        )
