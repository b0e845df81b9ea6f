"""The training command line: its defaults are those of the configurations it fills."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from fluorodn_train import quantize as q
from fluorodn_train.cli import app
from fluorodn_train.qat import QATConfig
from fluorodn_train.train import FitConfig


def _option_defaults(command: str) -> dict[str, object]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in cmd.params}


@pytest.mark.parametrize(("command", "config"), [("fit", FitConfig), ("qat", QATConfig)])
def test_option_defaults_are_the_config_defaults(command: str, config: type) -> None:
    options = _option_defaults(command)
    fields = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
    shared = sorted(options.keys() & fields.keys())
    assert {"steps", "batch", "lr", "seed", "threads", "val_every"} <= set(shared)
    assert {k: options[k] for k in shared} == {k: fields[k] for k in shared}


def test_quantize_defaults_are_the_module_defaults() -> None:
    options = _option_defaults("quantize")
    assert options["calib_windows"] == q.CALIB_WINDOWS and options["seed"] == q.CALIB_SEED
    assert options["guard_minutes"] == q.GUARD_MINUTES and options["guard_recordings"] == len(q.GUARD_SEEDS)
    assert tuple(x for x in str(options["float_layers"]).split(",") if x) == q.FLOAT_LAYERS


def test_recorded_commands_run_again(tmp_path: Path) -> None:
    """The command a run records (every option spelled out, flags included) is a valid command."""
    runner = CliRunner()
    fit = [
        "fit",
        "--out",
        str(tmp_path / "f"),
        "--depth",
        "3",
        "--width",
        "4",
        "--steps",
        "2",
        "--batch",
        "2",
        "--window",
        "24",
        "16",
        "--val-every",
        "2",
    ]
    assert runner.invoke(app, fit).exit_code == 0
    qat = [
        "qat",
        "--init",
        str(tmp_path / "f" / "last.pt"),
        "--out",
        str(tmp_path / "q"),
        "--steps",
        "1",
        "--batch",
        "2",
        "--val-every",
        "1",
        "--distill",
    ]
    res = runner.invoke(app, qat)
    assert res.exit_code == 0, res.output
    command = torch.load(tmp_path / "q" / "last.pt", weights_only=False)["config"]["command"]
    assert " --distill " in f"{command} "
    again = shlex.split(command)[3:]  # after "python -m fluorodn_train"
    again[again.index("--out") + 1] = str(tmp_path / "q2")
    res = runner.invoke(app, again)
    assert res.exit_code == 0, res.output


def test_the_recorded_quantize_command_keeps_every_option() -> None:
    """The command a variant's card records rebuilds it: the options given on the command line come
    first in click's parameters, before the defaults, and none of them may be lost."""
    from types import SimpleNamespace

    from fluorodn_train.cli import _variant_command

    params = {  # click's order: the options given first, then the defaults
        "float_layers": "first,second,last",
        "calib_windows": 128,
        "keep_refused": Path("/tmp/refused"),
        "models": [Path("models/a.onnx"), Path("models/b.onnx")],
        "precision": "int8",
        "seed": 5,
        "qat": (),
    }
    ctx = SimpleNamespace(info_name="quantize", params=params)
    cmd = _variant_command(ctx, Path("models/b.onnx"), None)  # type: ignore[arg-type]
    assert shlex.split(cmd) == [
        "python", "-m", "fluorodn_train", "quantize", "models/b.onnx",
        "--float-layers", "first,second,last", "--calib-windows", "128", "--precision", "int8", "--seed", "5",
    ]  # fmt: skip
    assert _variant_command(ctx, Path("models/a.onnx"), Path("runs/q/last.pt")).endswith(  # type: ignore[arg-type]
        "models/a.onnx --float-layers first,second,last --calib-windows 128 --precision int8 --seed 5 "
        "--qat runs/q/last.pt"
    )
