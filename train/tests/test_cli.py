"""The training command line: its defaults are those of the configurations it fills."""

from __future__ import annotations

import dataclasses

import pytest
import typer

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
