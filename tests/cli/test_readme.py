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
