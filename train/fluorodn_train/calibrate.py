"""The in-domain ranges of a spectral model's out-of-domain checks.

``fluorodn.spectral.removed_stats`` measures what the runtime removed from a recording;
:func:`domain_checks` runs an exported model on recordings of its own training domain (the
generator's validation stream: every sensor family, noise scale, bin count and length the
model trained on) and sets each check's range a margin beyond what those recordings
reach, so that in-domain data never warns. The ranges go into the model's metadata
(``domain_checks``), where the runtime reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fluorodn import Denoiser, spectral

from .data import VAL_STREAM, make_instance
from .synth import WIDE

#: Margins beyond the in-domain extremes: brightness/noise x0.7 below, x1.5 above; removed
#: component's time correlation +0.1; its spectral structure x1.3; the share kept of a signal far
#: above the noise (``kept``) x0.8.
SNR_MARGIN = (0.7, 1.5)
TIME_CORR_MARGIN = 0.1
STRUCTURE_MARGIN = 1.3
KEPT_MARGIN = 0.8
#: Margin on the widest trace spread of training recordings (the card's ``max_spread``).
SPREAD_MARGIN = 1.5


def trained_spread(
    noise_scale: tuple[float, float],
    lengths: tuple[int, int],
    recordings: int = 300,
    seed: int = 0,
    bins: tuple[int, int] = (76, 304),
) -> float:
    """The widest spread (``Projection.scale``) of any trace of ``recordings`` recordings drawn
    from training's ranges (``SpectralSampler``'s lengths, bins and noise scales, each uniform),
    times ``SPREAD_MARGIN``: the runtime keeps a trace spreading wider as it is. Long recordings
    reach wider spreads than training's (slow drift and bleaching add up over hours)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(VAL_STREAM, 8)))
    widest = 0.0
    for _ in range(recordings):
        n = int(rng.integers(lengths[0], lengths[1] + 1))
        inst = make_instance(rng, n, int(rng.integers(bins[0], bins[1] + 1)), rng.uniform(*noise_scale), signal=WIDE)
        p = spectral.fit(inst.noisy, fixed_pattern=False)
        widest = max(widest, float(p.scale.max()))
    return widest * SPREAD_MARGIN


def domain_stats(
    model: str | Path,
    noise_scale: tuple[float, float],
    recordings: int = 48,
    seed: int = 0,
    lengths: tuple[int, int] = (600, 44156),
    bins: tuple[int, int] = (76, 304),
) -> list[dict[str, float]]:
    """``removed_stats`` of ``model`` on ``recordings`` in-domain recordings, with the noise
    scale of each at the ends of ``noise_scale`` for a third of them (the extremes matter)."""
    den = Denoiser(str(model), device="cpu", kind="spectral")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(VAL_STREAM, 7)))
    out = []
    for k in range(recordings):
        ns = (noise_scale[0], noise_scale[1], rng.uniform(*noise_scale))[k % 3]
        n = int(np.exp(rng.uniform(np.log(lengths[0]), np.log(lengths[1]))))
        inst = make_instance(rng, n, int(rng.integers(bins[0], bins[1] + 1)), ns, signal=WIDE)
        x = inst.noisy
        y = den.run(x)
        stats = spectral.removed_stats(x, y, spectral.fit(x, den.channels, fixed_pattern=False))
        out.append(stats | {"noise_scale": ns, "length": n, "bins": x.shape[1]})
    return out


def domain_checks(stats: list[dict[str, float]]) -> dict[str, list[float]]:
    """Ranges (``[lo, hi]`` per check) from in-domain statistics, with the margins above (of
    ``time_corr`` and ``structure`` the upper end is checked, of ``kept`` the lower)."""
    snr = [s["snr"] for s in stats]
    return {
        "snr": [min(snr) * SNR_MARGIN[0], max(snr) * SNR_MARGIN[1]],
        "time_corr": [-1.0, max(s["time_corr"] for s in stats) + TIME_CORR_MARGIN],
        "structure": [0.0, float(max(s["structure"] for s in stats)) * STRUCTURE_MARGIN],
        "kept": [float(min(s["kept"] for s in stats)) * KEPT_MARGIN, 1.0],
    }


def export_spectral(
    ckpt: str | Path,
    out_dir: str | Path,
    name: str = "spectral",
    recordings: int = 48,
    lengths: tuple[int, int] = (600, 44156),
    odd: bool = True,
    spread_recordings: int = 300,
) -> tuple[Path, dict]:
    """Export a spectral checkpoint with its out-of-domain ranges in the metadata.

    ``odd``: export the network made odd in the traces (:class:`.model.SignSymmetric`).
    ``spread_recordings``: training-like recordings that set ``max_spread``.

    The widest trace spread training reaches is measured (:func:`trained_spread`), the model
    exported with it, measured on ``recordings`` in-domain recordings (:func:`domain_stats`),
    and exported again with ``domain_checks`` and the generator's description in its metadata
    and card.
    """
    import tempfile

    from .export import export_checkpoint
    from .train import load_checkpoint

    _, ck = load_checkpoint(ckpt)
    lo, hi = ck["config"]["noise_scale"]
    shortest = ck["config"]["window"][0]
    # lengths as SpectralSampler draws them
    spread = trained_spread((lo, hi), (shortest, 6 * shortest), spread_recordings)
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = export_checkpoint(ckpt, tmp, name, odd=odd, max_spread=spread)
        stats = domain_stats(path, (lo, hi), recordings=recordings, lengths=lengths)
    generator = {
        "signal": "fluorodn_train.synth.WIDE",
        "noise": "parametric, fluorodn_train.noise.NoiseConfig",
        "noise_scale": [lo, hi],
        "bins": [76, 304],
        "sensors": list(WIDE.sensors),
        "hemo_fast_prob": WIDE.hemo_fast_prob,
        "hemo_fast_share": list(WIDE.hemo_fast),
        "rise_samples": list(WIDE.rise_samples),
        "rise_prob": WIDE.rise_prob,
    }
    return export_checkpoint(
        ckpt,
        out_dir,
        name,
        domain_checks=domain_checks(stats),
        max_spread=spread,
        generator=generator,
        domain="spectral-fiber-photometry (any sensor, 76-304 bins)",
        odd=odd,
    )
