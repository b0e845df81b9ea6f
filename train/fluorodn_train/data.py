"""Training instances: clean synthetic recording + noise, normalized like the runtime."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fluorodn.normalize import global_scale
from fluorodn.spectral import COMPONENTS, baseline, coefficient_map, network_input, pad_ends, project

from .noise import NoiseConfig, RecordedNoise, parametric_noise
from .synth import WIDE, CleanRecording, SignalConfig, clean_recording

#: Seed-sequence branches that keep training and validation draws disjoint.
TRAIN_STREAM, VAL_STREAM, TEST_STREAM = 0, 1, 2


@dataclass
class Instance:
    noisy: np.ndarray  #: (T, W) float64 counts
    truth: CleanRecording  #: the clean recording and its ground truth

    @property
    def clean(self) -> np.ndarray:
        return self.truth.clean


def make_instance(
    rng: np.random.Generator,
    n_time: int,
    n_bins: int,
    noise_scale: float,
    recorded: RecordedNoise | None = None,
    signal: SignalConfig | None = None,
    noise: NoiseConfig | None = None,
) -> Instance:
    """One noisy recording of shape (n_time, n_bins) with its ground truth."""
    if recorded is not None:
        n_bins = recorded.bins
    rec = clean_recording(rng, n_time, n_bins, signal)
    if recorded is not None:
        eps = recorded.sample(rng, rec.photons, noise_scale)
    else:
        eps = parametric_noise(rng, rec.photons, noise_scale, noise)
    return Instance(noisy=rec.clean + eps, truth=rec)


def normalized_pair(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target noise), both float32 in the runtime's normalized units."""
    m, s = global_scale(inst.noisy)
    x = (inst.noisy - m) / s
    y = (inst.noisy - inst.clean) / s
    return x.astype(np.float32), y.astype(np.float32)


class Sampler:
    """Endless, reproducible batches of (input, target) windows.

    Each call draws fresh instances (the seed's "epochs of freshly generated
    instances"). ``noise_scale`` may be a (lo, hi) range drawn per instance.
    """

    def __init__(
        self,
        seed: int,
        stream: int,
        window: tuple[int, int],
        noise_scale: tuple[float, float],
        recorded: RecordedNoise | None = None,
    ):
        self.ss = np.random.SeedSequence(seed, spawn_key=(stream,))
        self.rng = np.random.default_rng(self.ss)
        self.window = window
        self.noise_scale = noise_scale
        self.recorded = recorded

    def state(self) -> dict:
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, 1, T, W) float32 inputs and targets."""
        xs, ys = [], []
        for _ in range(n):
            ns = self.rng.uniform(*self.noise_scale)
            inst = make_instance(self.rng, self.window[0], self.window[1], ns, self.recorded)
            x, y = normalized_pair(inst)
            xs.append(x)
            ys.append(y)
        return np.stack(xs)[:, None], np.stack(ys)[:, None]


def spectral_pair(
    inst: Instance, components: int = COMPONENTS, pad: int = 0, signal_only: bool = False, mark_pad: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(network input (2K, T + 2 pad), target noise (K, T + 2 pad)) of the spectral model, float32.

    The input is :func:`fluorodn.spectral.network_input` of the runtime's projection
    (``fluorodn.spectral.project``) of the noisy recording, the target the same projection of
    its noise, in the units of the coefficient traces; components missing because the
    recording has fewer bins or samples are zero traces. Both are extended by ``pad``
    mirrored samples at each end (:func:`fluorodn.spectral.pad_ends`), as the runtime extends
    a recording by the network's halo, so that the network learns the ends it sees there.
    With ``signal_only``, the traces that hold noise only (``Projection.signal``), which the
    runtime does not denoise, are zero traces with zero targets. A recording long enough to
    carry a slow baseline (``Projection.spread``) enters as the runtime's denoiser feeds it: its
    signal traces less their baseline (:func:`fluorodn.spectral.baseline`), scaled by the
    spread around it; the target stays the whole noise, which is what the output keeps. With
    ``mark_pad``, the level channels are negated on the ``pad`` mirrored samples at each end (a sign
    no recorded sample's level has), so that the network can tell the mirror from the recording
    (the output, divided by the level, stays finite there).
    """
    p = project(inst.noisy, components, fixed_pattern=False)  # the coefficient traces are all it needs
    y = (inst.noisy - inst.clean) @ coefficient_map(p)
    t = np.zeros((components, len(p.coef)), np.float32)
    t[: p.components] = y.T
    coef, scale = p.coef, p.scale
    signal = np.ones(p.components, bool) if p.signal is None else p.signal
    if p.spread is not None:
        scale = p.spread
        coef = coef.copy()
        coef[:, signal] -= baseline(coef[:, signal], p.baseline_samples).astype(np.float32)
    if signal_only and p.signal is not None:
        coef = np.where(p.signal[None, :], coef, 0.0).astype(np.float32)
        t[: p.components][~p.signal] = 0.0
    x = network_input(pad_ends(coef, pad), scale, components)[0]
    if mark_pad and pad > 0:
        x[components:, :pad] *= -1.0
        x[components:, -pad:] *= -1.0
    return x, pad_ends(t, pad, axis=1)


#: Samples around each release that :func:`event_weights` weighs: from one before to this many after
#: (a rise over up to 3 samples and the first samples of the decay).
EVENT_AFTER = 5


def event_weights(
    spikes: np.ndarray, weight: float, pad: int = 0, edge_weight: float = 0.0, edge: int = 0
) -> np.ndarray:
    """(T + 2 pad,) float32 per-sample loss weights: ``1 + weight`` from one sample before each
    release in ``spikes`` (T,) to ``EVENT_AFTER`` after it, plus ``edge_weight`` on the first and
    last ``edge`` samples (the outputs whose context reaches into the mirrored ends), 1 elsewhere;
    extended by ``pad`` mirrored samples at each end as the traces are."""
    n = len(spikes)
    on = np.zeros(n + EVENT_AFTER + 1, bool)
    for i in np.flatnonzero(np.asarray(spikes) > 0):
        on[max(i - 1, 0) : i + EVENT_AFTER + 1] = True
    ends = np.zeros(n, bool)
    ends[: min(edge, n)] = True
    ends[max(n - edge, 0) :] = True
    w = (1.0 + weight * on[:n] + edge_weight * ends).astype(np.float32)
    return pad_ends(w[:, None], pad)[:, 0]


class SpectralSampler(Sampler):
    """Endless, reproducible batches of whole spectral recordings for the 1D network.

    Each batch draws a length in ``lengths`` (samples) and as many recordings as fit in
    ``samples_per_batch``; each recording draws its bin count, noise scale and (widened
    generator) sensor, kinetics and hemodynamics. Recordings are whole and extended by ``pad``
    mirrored samples at each end, so their ends are the ends the runtime sees. With
    ``event_weight`` > 0 the targets carry one more channel, the per-sample loss weights of
    :func:`event_weights` (split off by :func:`fluorodn_train.train.diff_loss`).
    """

    def __init__(
        self,
        seed: int,
        stream: int,
        noise_scale: tuple[float, float],
        lengths: tuple[int, int] = (400, 2400),
        bins: tuple[int, int] = (76, 304),
        samples_per_batch: int = 9600,
        signal: SignalConfig = WIDE,
        pad: int = 0,
        signal_only: bool = False,
        event_weight: float = 0.0,
        mark_pad: bool = False,
        edge_weight: float = 0.0,
    ):
        super().__init__(seed, stream, (lengths[1], bins[1]), noise_scale)
        self.lengths, self.bins, self.samples, self.signal = lengths, bins, samples_per_batch, signal
        self.pad, self.signal_only, self.event_weight, self.mark_pad = pad, signal_only, event_weight, mark_pad
        self.edge_weight = edge_weight

    @property
    def weighted(self) -> bool:
        """Whether the targets carry the per-sample loss weights as their last channel."""
        return self.event_weight > 0 or self.edge_weight > 0

    def batch(self, n: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(B, K, L) float32 inputs and targets; ``n`` > 0 fixes B (default: by the sample budget)."""
        length = int(self.rng.integers(self.lengths[0], self.lengths[1] + 1))
        count = n or max(2, self.samples // length)
        xs, ys = [], []
        for _ in range(count):
            ns = self.rng.uniform(*self.noise_scale)
            bins = int(self.rng.integers(self.bins[0], self.bins[1] + 1))
            inst = make_instance(self.rng, length, bins, ns, signal=self.signal)
            x, y = spectral_pair(inst, pad=self.pad, signal_only=self.signal_only, mark_pad=self.mark_pad)
            if self.weighted:
                w = event_weights(inst.truth.spikes, self.event_weight, self.pad, self.edge_weight, self.pad)
                y = np.concatenate([y, w[None]])
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)
