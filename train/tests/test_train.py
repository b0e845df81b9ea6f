"""Resume, recorded-noise path and a tiny end-to-end train -> export run."""

import json

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from fluorodn_train.cli import app
from fluorodn_train.noise import RecordedNoise
from fluorodn_train.train import FitConfig, diff_loss, fit, load_checkpoint

TINY = dict(depth=4, width=4, window=(24, 16), batch=2, val_instances=4, val_every=2, ckpt_every=2)


def test_resume_continues_exactly(tmp_path):
    fit(FitConfig(out=str(tmp_path / "a"), steps=6, **TINY), log=lambda m: None)
    fit(FitConfig(out=str(tmp_path / "b"), steps=3, **TINY), log=lambda m: None)
    fit(FitConfig(out=str(tmp_path / "b"), steps=6, **TINY), log=lambda m: None)
    ma, ca = load_checkpoint(tmp_path / "a" / "last.pt")
    mb, cb = load_checkpoint(tmp_path / "b" / "last.pt")
    assert ca["step"] == cb["step"] == 6 and ca["seen"] == cb["seen"] == 12
    for (ka, va), (_, vb) in zip(ma.state_dict().items(), mb.state_dict().items(), strict=True):
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=ka)
    log = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    assert all("val_loss" in r for r in log if r["step"] % 2 == 0)


def _recorded_files(tmp_path, n=400, bins=16, gain=2.0, read=3.0, fmt="npy"):
    rng = np.random.default_rng(0)
    pattern = rng.normal(0, 2.0, bins)
    dark = 100 + pattern + rng.normal(0, read, (n, bins))
    profile = 2000 * np.exp(-0.5 * ((np.arange(bins) - 6) / 4) ** 2) + 200
    on = np.arange(n) % 2 == 0  # pulsed LED: on, off, on, ...
    level = np.where(on, rng.uniform(0.8, 1.0, n), 0.0)
    photons = np.outer(level, profile)
    light = 100 + pattern + photons + np.sqrt(gain * photons) * rng.standard_normal((n, bins))
    light += rng.normal(0, read, (n, bins))
    paths = []
    for name, arr in (("dark", dark), ("light", light)):
        p = tmp_path / f"{name}.{fmt}"
        np.save(p, arr) if fmt == "npy" else tifffile.imwrite(p, arr.astype(np.float32))
        paths.append(p)
    return paths, gain, read


def test_diff_loss_weights_high_frequencies():
    """A constant error costs its MSE only; an alternating one 1 + 4 w times its MSE."""
    y = torch.zeros(2, 3, 100)
    loss = diff_loss(0.5)
    torch.testing.assert_close(loss(torch.full_like(y, 2.0), y), torch.tensor(4.0))
    alternating = torch.ones(100) * torch.tensor([1.0, -1.0]).repeat(50)
    torch.testing.assert_close(loss(alternating.expand(2, 3, 100), y), torch.tensor(1.0 + 0.5 * 4.0))


def test_l1_loss_is_the_mean_absolute_error_and_its_minimizer_the_median():
    """power=1: a constant error costs its absolute value, an alternating one 1 + 2 w times it;
    the constant output that minimizes it over skewed targets is their median, not their mean."""
    y = torch.zeros(2, 3, 100)
    loss = diff_loss(0.5, power=1)
    torch.testing.assert_close(loss(torch.full_like(y, -2.0), y), torch.tensor(2.0))
    alternating = torch.ones(100) * torch.tensor([1.0, -1.0]).repeat(50)
    torch.testing.assert_close(loss(alternating.expand(2, 3, 100), y), torch.tensor(1.0 + 0.5 * 2.0))
    targets = torch.tensor([0.0, 0.0, 0.0, 10.0]).repeat(25).view(1, 1, 100)  # median 0, mean 2.5
    level = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([level], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        diff_loss(0.0, power=1)(level.expand(1, 1, 100), targets).backward()
        opt.step()
    assert abs(float(level)) < 0.1
    with pytest.raises(ValueError, match="power"):
        diff_loss(0.0, power=3)


def test_fit_refuses_an_unknown_loss(tmp_path):
    with pytest.raises(ValueError, match="loss must be one of mse, l1"):
        fit(FitConfig(out=str(tmp_path / "run"), kind="spectral", loss="huber", steps=1))


@pytest.mark.parametrize("fmt", ["npy", "tif"])
def test_recorded_noise_separates_dark_and_shot(tmp_path, fmt):
    (dark, light), gain, read = _recorded_files(tmp_path, fmt=fmt)
    rn = RecordedNoise.from_files(dark, light)
    assert rn.dark.std() == pytest.approx(read, rel=0.15)
    assert rn.shot.std() == pytest.approx(np.sqrt(gain), rel=0.1)  # unit shot noise: std/sqrt(I)
    rng = np.random.default_rng(1)
    photons = np.tile([100.0, 1e4], (2000, 8))
    eps = rn.sample(rng, photons, 0.5)
    std = eps.std(axis=0).reshape(8, 2).mean(axis=0)
    np.testing.assert_allclose(std, np.sqrt(0.25 * gain * photons[0, :2] + read**2), rtol=0.12)
    train, val = rn.split(0.8)
    assert len(train.shot) + len(val.shot) == len(rn.shot)


def test_recorded_noise_rejects_mismatched_bins(tmp_path):
    with pytest.raises(ValueError, match="same"):
        RecordedNoise(np.zeros((20, 8)), np.ones((20, 9)))


def test_tiny_train_export_end_to_end_with_recorded_noise(tmp_path):
    (dark, light), _, _ = _recorded_files(tmp_path)
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "fit",
            "--out",
            str(out),
            "--depth",
            "4",
            "--width",
            "4",
            "--steps",
            "4",
            "--batch",
            "2",
            "--window",
            "24",
            "16",
            "--val-every",
            "2",
            "--dark",
            str(dark),
            "--light",
            str(light),
            "--seed",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["export", str(out / "last.pt"), "--name", "tiny", "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "m" / "tiny.json").read_text())
    assert card["instances_seen"] == 8 and card["steps"] == 4 and card["halo"] == 4
    assert "--dark" in card["training_command"]
    # fine-tune from that checkpoint keeps counting instances
    r = runner.invoke(
        app,
        [
            "fit",
            "--out",
            str(tmp_path / "ft"),
            "--depth",
            "4",
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
            "--init",
            str(out / "last.pt"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert load_checkpoint(tmp_path / "ft" / "last.pt")[1]["seen"] == 8 + 4
