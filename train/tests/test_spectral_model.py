"""The spectral model: widened generator, 1D training, export with domain checks, runtime parity."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from fluorodn import Denoiser, spectral
from fluorodn.registry import validate_metadata

from fluorodn_train import calibrate, quantize, synth
from fluorodn_train.calibrate import export_spectral
from fluorodn_train.data import SpectralSampler, make_instance, spectral_pair
from fluorodn_train.model import DnCNN1d, Rows2d, SignSymmetric, deepen, fold_batchnorm
from fluorodn_train.train import FitConfig, fit, load_checkpoint


def test_widened_generator_draws_fast_hemodynamics_and_other_sensors():
    rng = np.random.default_rng(0)
    cfg = synth.SignalConfig(hemo_fast=(0.4, 0.4), hemo_fast_prob=1.0)
    h = synth.hemodynamics(rng, 6000, cfg)
    spec = np.abs(np.fft.rfft(h)) ** 2
    freqs = np.fft.rfftfreq(len(h), 1 / synth.FS)
    assert spec[freqs > 1.0].sum() / spec[1:].sum() > 0.3  # fast share in vivo: 35-40 %
    assert abs(h.std() - 1.0) < 1e-3
    for family in ("ach", "da", "red"):
        wl, e, s = synth.spectra.sensor(152, rng, family)
        assert wl.shape == e.shape == s.shape == (152,) and e.max() == 1.0
        assert np.isfinite(s).all()
    red = synth.spectra.sensor(152, rng, "red")[0]
    assert red[0] > 530  # a red sensor's spectrometer window


def test_spectral_pair_targets_are_the_projected_noise():
    inst = make_instance(np.random.default_rng(1), 500, 100, 0.5, signal=synth.WIDE)
    x, y = spectral_pair(inst)
    k = spectral.COMPONENTS
    assert x.shape == (2 * k, 500) and y.shape == (k, 500)
    p = spectral.project(inst.noisy)
    np.testing.assert_allclose(x[k:], np.broadcast_to(1 / p.scale[:, None], (k, 500)), rtol=1e-6)
    assert np.all(p.scale >= 1.0) and p.scale[0] > 5.0  # bright leading trace, pure-noise tail
    assert np.all(p.scale[-4:] < 1.5)  # noise only (the largest of many noise directions)
    clean_coef = x[:k] / x[k:] - y  # the projection of the clean recording, through the same statistics
    expected = spectral.coefficients(p, inst.clean).T
    np.testing.assert_allclose(clean_coef, expected, rtol=1e-4, atol=1e-3)


def test_spectral_pair_extends_the_ends_as_the_runtime_does():
    """Training pairs carry the mirrored ends that ``run_traces`` gives the network."""
    inst = make_instance(np.random.default_rng(1), 300, 80, 0.5, signal=synth.WIDE)
    x0, y0 = spectral_pair(inst)
    x, y = spectral_pair(inst, pad=7)
    assert x.shape == (x0.shape[0], 314) and y.shape == (y0.shape[0], 314)
    np.testing.assert_array_equal(x[:, 7:-7], x0)
    np.testing.assert_array_equal(y[:, 7:-7], y0)
    np.testing.assert_array_equal(x[:, :7], x0[:, 6::-1])
    np.testing.assert_array_equal(y[:, -7:], y0[:, :-8:-1])


def test_spectral_pair_can_leave_out_the_noise_only_traces():
    """With signal_only, the traces the runtime does not denoise are zero in input and target."""
    inst = make_instance(np.random.default_rng(2), 1500, 120, 0.5, signal=synth.WIDE)
    k = spectral.COMPONENTS
    x0, y0 = spectral_pair(inst)
    x, y = spectral_pair(inst, signal_only=True)
    signal = spectral.project(inst.noisy).signal
    assert signal is not None and signal[0] and not signal.all()
    np.testing.assert_array_equal(x[:k][signal], x0[:k][signal])
    np.testing.assert_array_equal(y[signal], y0[signal])
    assert np.all(x[:k][~signal] == 0.0) and np.all(y[~signal] == 0.0)
    np.testing.assert_array_equal(x[k:], x0[k:])  # levels unchanged


def test_long_spectral_pair_is_what_the_runtime_feeds_the_network():
    """On a recording with a slow baseline the input is the runtime's: signal traces less their
    baseline, scaled by the spread; the target stays the projected noise."""
    inst = make_instance(np.random.default_rng(3), 2200, 90, 0.4, signal=synth.WIDE)
    k = spectral.COMPONENTS
    x, y = spectral_pair(inst)
    p = spectral.project(inst.noisy)
    assert p.spread is not None and p.signal is not None and p.signal.any()
    traces = p.coef.astype(np.float64).copy()
    traces[:, p.signal] -= spectral.baseline(traces[:, p.signal], p.baseline_samples)
    expected = spectral.network_input(traces.astype(np.float32), p.spread, k)[0]
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    # the signal traces enter centred on their baseline: their means are near zero
    assert np.all(np.abs(x[: p.components][p.signal].mean(axis=1)) < 0.05)
    noise = (inst.noisy - inst.clean) @ spectral.coefficient_map(p)
    np.testing.assert_allclose(y[: p.components], noise.T, rtol=1e-5, atol=1e-4)


def test_marked_pad_negates_the_levels_of_the_mirrored_samples_only():
    """With ``mark_pad`` the level channels are negated on the mirrored samples at each end; the traces,
    the levels of the recorded samples and the target are those of the unmarked pair."""
    inst = make_instance(np.random.default_rng(4), 300, 80, 0.4, signal=synth.WIDE)
    k, pad = spectral.COMPONENTS, 7
    x0, y0 = spectral_pair(inst, pad=pad)
    x, y = spectral_pair(inst, pad=pad, mark_pad=True)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(x[:k], x0[:k])
    np.testing.assert_array_equal(x[k:, pad:-pad], x0[k:, pad:-pad])
    np.testing.assert_array_equal(x[k:, :pad], -x0[k:, :pad])
    np.testing.assert_array_equal(x[k:, -pad:], -x0[k:, -pad:])
    assert np.all(x0[k:, pad:-pad] > 0.0)  # a recorded sample's level is never 0
    s = SpectralSampler(0, 0, (0.1, 1.2), lengths=(60, 80), bins=(30, 40), samples_per_batch=200, pad=5, mark_pad=True)
    xb, _ = s.batch()
    assert np.all(xb[:, k:, :5] < 0.0) and np.all(xb[:, k:, -5:] < 0.0) and np.all(xb[:, k:, 5:-5] > 0.0)


def test_sampler_batches_whole_recordings_of_one_length():
    s = SpectralSampler(0, 0, (0.1, 1.2), lengths=(60, 120), bins=(30, 40), samples_per_batch=300)
    x, y = s.batch()
    assert x.ndim == 3 and x.shape[1] == 2 * spectral.COMPONENTS and 60 <= x.shape[2] <= 120
    assert y.shape == (x.shape[0], spectral.COMPONENTS, x.shape[2]) and x.dtype == np.float32


def test_event_weights_mark_each_release_and_its_rise():
    from fluorodn_train.data import EVENT_AFTER, event_weights

    spikes = np.zeros(40)
    spikes[[0, 20, 38]] = 1.0
    w = event_weights(spikes, 4.0)
    on = np.zeros(40, bool)
    for i in (0, 20, 38):
        on[max(i - 1, 0) : i + EVENT_AFTER + 1] = True
    np.testing.assert_array_equal(w, np.where(on, 5.0, 1.0))
    padded = event_weights(spikes, 4.0, pad=3)  # mirrored like the traces
    np.testing.assert_array_equal(padded[3:-3], w)
    np.testing.assert_array_equal(padded[:3], w[1:4][::-1])


def test_edge_weights_mark_the_first_and_last_samples():
    """``edge_weight`` adds to the first and last ``edge`` samples, on top of the event weights."""
    from fluorodn_train.data import event_weights

    spikes = np.zeros(30)
    spikes[1] = 1.0
    w = event_weights(spikes, 4.0, edge_weight=2.0, edge=3)
    np.testing.assert_array_equal(w[:8], [7.0, 7.0, 7.0, 5.0, 5.0, 5.0, 5.0, 1.0])
    np.testing.assert_array_equal(w[-4:], [1.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(event_weights(spikes, 0.0, edge_weight=2.0, edge=50), np.full(30, 3.0))


def test_edge_weighted_sampler_weighs_each_recordings_ends():
    """With ``edge_weight`` alone the targets carry weights: 1 + it on each recording's first and
    last ``pad`` samples and their mirror, 1 elsewhere; validation sees the plain targets."""
    from fluorodn_train.train import validation_set

    s = SpectralSampler(
        0, 0, (0.1, 1.2), lengths=(300, 300), bins=(30, 40), samples_per_batch=600, pad=5, edge_weight=3.0
    )
    x, y = s.batch()
    assert y.shape == (x.shape[0], spectral.COMPONENTS + 1, 310)
    expected = np.ones(310, np.float32)
    expected[:10] = expected[-10:] = 4.0
    for w in y[:, -1]:
        np.testing.assert_array_equal(w, expected)
    cfg = FitConfig(out="unused", kind="spectral", window=(60, 0), samples=120, val_instances=2, edge_weight=3.0)
    _, yv = validation_set(cfg, None)
    assert yv.shape[1] == spectral.COMPONENTS


def test_event_weighted_sampler_and_loss():
    """The weights ride as the target's last channel; the loss weighs the squared error by them
    and validation sees the plain targets."""
    from fluorodn_train.train import diff_loss, validation_set

    s = SpectralSampler(0, 0, (0.1, 1.2), lengths=(300, 300), bins=(30, 40), samples_per_batch=600, event_weight=4.0)
    x, y = s.batch()
    assert y.shape == (x.shape[0], spectral.COMPONENTS + 1, x.shape[2])
    assert set(np.unique(y[:, -1])) <= {1.0, 5.0} and (y[:, -1] == 5.0).any()
    t, w = torch.from_numpy(y[:, :-1]), torch.from_numpy(y[:, -1:])
    out = t + torch.randn_like(t)
    expected = float(((w * (out - t) ** 2).mean() / w.mean()) + 0.5 * torch.diff(out - t, dim=-1).pow(2).mean())
    assert float(diff_loss(0.5, weighted=True)(out, torch.from_numpy(y))) == pytest.approx(expected, rel=1e-6)
    # as many unit errors on the weighted samples cost 5x what they cost elsewhere
    on = (w == 5.0).expand_as(t).flatten()
    off = torch.zeros_like(on)
    off[torch.nonzero(~on).flatten()[: int(on.sum())]] = True
    cost = [float(diff_loss(0.0, weighted=True)(t + m.float().view_as(t), torch.from_numpy(y))) for m in (on, off)]
    assert cost[0] == pytest.approx(5.0 * cost[1], rel=1e-5)
    cfg = FitConfig(out="unused", kind="spectral", window=(60, 0), samples=120, val_instances=2, event_weight=4.0)
    _, yv = validation_set(cfg, None)
    assert yv.shape[1] == spectral.COMPONENTS
    # weigh_diffs: each difference e[t + 1] - e[t] by the weight of sample t
    d = torch.diff(out - t, dim=-1)
    dw = w[..., :-1]
    expected = float(((w * (out - t) ** 2).mean() / w.mean()) + 0.5 * ((dw * d**2).mean() / dw.mean()))
    assert float(diff_loss(0.5, weighted=True, weigh_diffs=True)(out, torch.from_numpy(y))) == pytest.approx(
        expected, rel=1e-6
    )
    step = torch.zeros_like(t)
    step[..., 1:] = 1.0  # an error step between samples 0 and 1: its difference sits at sample 0
    for at in (1.0, 5.0):
        wy = torch.from_numpy(y).clone()
        wy[:, -1] = 1.0
        wy[:, -1, 0] = at
        cost = float(diff_loss(1.0, weighted=True, weigh_diffs=True)(t + step, wy)) - float(
            diff_loss(0.0, weighted=True)(t + step, wy)
        )
        n = t.shape[-1] - 1
        assert cost == pytest.approx(at / (at + n - 1), rel=1e-3)


@pytest.mark.parametrize(("dilations", "shared"), [(None, False), ((1, 2, 3, 1), False), (None, True)])
def test_folded_1d_network_matches(dilations, shared):
    net = DnCNN1d(16, depth=4, width=8, shared=shared, dilations=dilations)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    torch.nn.init.normal_(net.net[-1].weight, std=0.1)
    net.eval()
    x = torch.randn(2, 32, 50)
    x[:, 16:] = torch.rand(2, 16, 1) * 0.9 + 0.1  # levels 1 / scale
    torch.testing.assert_close(fold_batchnorm(net)(x), net(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dilations", [None, (1, 2, 3, 1)])
def test_rows2d_computes_the_1d_chain(dilations):
    """The 1D chain as 1 x k 2D convolutions on one-row images: same values, no Conv1d left."""
    torch.manual_seed(2)
    net = DnCNN1d(16, depth=4, width=8, shared=True, dilations=dilations).eval()
    torch.nn.init.normal_(net.net[-1].weight, std=0.3)
    chain = fold_batchnorm(net).net
    rows = Rows2d(chain)
    assert not any(isinstance(m, torch.nn.Conv1d) for m in rows.modules())
    x = torch.randn(5, 2, 70)
    with torch.no_grad():
        torch.testing.assert_close(rows(x), chain(x), rtol=1e-5, atol=1e-5)


def test_exported_1d_network_runs_as_2d_convolutions(tmp_path):
    """The exported graph's convolutions are 2D (1 x 3) and compute what the 1D export computes."""
    from fluorodn_train.export import export

    torch.manual_seed(3)
    net = DnCNN1d(16, depth=4, width=8, shared=True).eval()
    torch.nn.init.normal_(net.net[-1].weight, std=0.3)
    path, _ = export(net, tmp_path / "rows", "tiny", {"noise_scale": 0.5, "odd": True})
    path1, _ = export(net, tmp_path / "conv1d", "tiny", {"noise_scale": 0.5, "odd": True}, rows2d=False)
    dims = {len(t.dims) for t in onnx.load(str(path)).graph.initializer if t.name.endswith("weight")}
    assert dims == {4}
    dims1 = {len(t.dims) for t in onnx.load(str(path1)).graph.initializer if t.name.endswith("weight")}
    assert dims1 == {3}
    x = np.random.default_rng(0).standard_normal((2, 32, 80)).astype(np.float32)
    x[:, 16:] = 0.4
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (path, path1))
    np.testing.assert_allclose(a.run(None, {"input": x})[0], b.run(None, {"input": x})[0], rtol=1e-5, atol=1e-5)


def test_dilations_set_the_halo():
    """An output sample depends on inputs within sum(dilations) samples, and no further."""
    torch.manual_seed(0)
    net = DnCNN1d(16, depth=5, width=4, shared=True, dilations=(1, 2, 4, 2, 1)).eval()
    assert net.halo == 10
    for m in net.modules():
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.normal_(m.weight, std=0.3)
    x = torch.rand(1, 32, 61) + 0.1
    x2 = x.clone()
    x2[0, 0, 30] += 5.0
    with torch.no_grad():
        changed = torch.nonzero((net(x2) - net(x)).abs().sum(dim=(0, 1)) > 0).flatten()
    assert int(changed.min()) == 20 and int(changed.max()) == 40
    with pytest.raises(ValueError, match="dilations"):
        DnCNN1d(16, depth=5, dilations=(1, 2))


@pytest.mark.parametrize("shared", [True, False])
def test_deepened_network_computes_its_source(shared):
    """Inserted dilated layers start as the identity: the deeper network gives its source's
    output in eval mode, and on the batch its normalization was set from in training mode."""
    torch.manual_seed(0)
    src = DnCNN1d(16, depth=5, width=6, shared=shared)
    for m in src.modules():
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.normal_(m.weight, std=0.3)
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(0.0, 1.0)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 32, 80)
    x[:, 16:] = torch.rand(4, 16, 1) + 0.1
    deep = DnCNN1d(16, depth=7, width=6, shared=shared, dilations=(1, 1, 4, 8, 1, 1, 1))
    assert deep.halo == 17
    deepen(deep, src, x)
    src.eval(), deep.eval()
    with torch.no_grad():
        np.testing.assert_allclose(deep(x).numpy(), src(x).numpy(), rtol=1e-4, atol=1e-4)
    # the inserted convolutions pass each channel through their centre tap
    inserted = deep.net[5]
    assert isinstance(inserted, torch.nn.Conv1d) and inserted.dilation == (4,)
    np.testing.assert_array_equal(inserted.weight[:, :, 1].detach().numpy(), np.eye(6))
    with pytest.raises(ValueError, match="contain"):
        deepen(DnCNN1d(16, depth=7, width=6, shared=shared, dilations=(1, 2, 4, 8, 2, 2, 1)), src, x)
    with pytest.raises(ValueError, match="width"):
        deepen(DnCNN1d(16, depth=7, width=4, shared=shared, dilations=(1, 1, 4, 8, 1, 1, 1)), src, x)


def test_fit_deepens_a_shallower_checkpoint(tmp_path):
    """``--init`` from a checkpoint with fewer layers: the run starts from that network, deepened."""
    base = {
        "kind": "spectral",
        "noise_scale": (0.1, 1.2),
        "width": 4,
        "shared": True,
        "window": (40, 0),
        "samples": 200,
        "steps": 1,
        "val_instances": 2,
        "val_every": 1,
        "ckpt_every": 1,
    }
    fit(FitConfig(out=str(tmp_path / "a"), depth=3, **base), log=lambda m: None)
    said: list[str] = []
    cfg = FitConfig(
        out=str(tmp_path / "b"), depth=4, dilations="1,4,1,1", lr=0.0, init=str(tmp_path / "a" / "last.pt"), **base
    )
    fit(cfg, log=said.append)
    assert any("deepened" in m for m in said)
    src, _ = load_checkpoint(tmp_path / "a" / "last.pt")
    deep, ck = load_checkpoint(tmp_path / "b" / "last.pt")
    assert ck["config"]["dilations"] == "1,4,1,1" and deep.halo == 7
    # lr 0: the source's convolutions unchanged in the deepened network
    np.testing.assert_array_equal(deep.net[0].weight.detach().numpy(), src.net[0].weight.detach().numpy())
    np.testing.assert_array_equal(deep.net[-1].weight.detach().numpy(), src.net[-1].weight.detach().numpy())


def test_tiny_spectral_train_export_and_run(tmp_path):
    cfg = FitConfig(
        out=str(tmp_path / "run"),
        kind="spectral",
        noise_scale=(0.1, 1.2),
        depth=3,
        width=4,
        shared=True,
        dilations="1,2,1",
        window=(40, 0),
        samples=200,
        steps=2,
        val_instances=2,
        val_every=2,
        ckpt_every=2,
    )
    fit(cfg, log=lambda m: None)
    model, ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert isinstance(model, DnCNN1d) and ck["step"] == 2 and ck["seen"] > 0
    path, card = export_spectral(
        tmp_path / "run" / "last.pt",
        tmp_path / "models",
        "tiny",
        recordings=3,
        lengths=(200, 400),
        spread_recordings=20,
    )
    assert card["kind"] == "spectral" and card["channels"] == spectral.COMPONENTS
    assert card["halo"] == 4 and card["dilations"] == [1, 2, 1]
    assert card["parity_max_abs_error"] < 1e-4
    # exported odd in the traces: negating every trace negates the predicted noise
    assert card["odd"] is True
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xin = np.random.default_rng(5).standard_normal((1, 32, 90)).astype(np.float32)
    xin[:, 16:] = np.random.default_rng(6).uniform(0.05, 1.0, (1, 16, 1))
    flipped = xin.copy()
    flipped[:, :16] *= -1
    np.testing.assert_allclose(sess.run(None, {"input": flipped})[0], -sess.run(None, {"input": xin})[0], atol=1e-5)
    checks = card["domain_checks"]
    assert checks["snr"][0] < checks["snr"][1] and checks["structure"][1] > 0
    assert 0 < checks["kept"][0] <= calibrate.KEPT_MARGIN and checks["kept"][1] == 1.0
    meta = json.loads(ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map["fluorodn"])
    validate_metadata(meta, "tiny")
    assert meta["domain_checks"] == checks
    # the widest trace spread of training recordings, with its margin: the runtime keeps wider traces
    assert meta["max_spread"] == card["max_spread"] > calibrate.SPREAD_MARGIN
    assert Denoiser(path, device="cpu").model_card.max_spread == card["max_spread"]
    x = make_instance(np.random.default_rng(2), 300, 80, 0.5).noisy
    y = Denoiser(path, device="cpu").run(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    # int8: convolutions quantized, the division by the levels kept in float32
    calib = quantize.spectral_calibration_inputs((0.1, 1.2), n=2, length=120)
    assert calib.shape == (2, 2 * spectral.COMPONENTS, 120)
    q_path = tmp_path / "models" / "tiny.int8.onnx"
    quantize.quantize_int8(path, q_path, calib, op_types=("Conv",))
    ops = {n.op_type for n in onnx.load(str(q_path)).graph.node}
    assert "Div" in ops and "DequantizeLinear" in ops
    yq = Denoiser(q_path, device="cpu").run(x)
    removed, err = np.std(x - y), np.std(yq - y)
    assert err < 0.1 * removed


def test_odd_network_runs_in_windows_like_in_one_call():
    """The runtime's windows (overlapping by the card's halo) give the one-call values."""
    torch.manual_seed(0)
    plain = DnCNN1d(16, depth=4, width=8, shared=True).eval()
    net = SignSymmetric(plain, 16).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.normal_(m.weight, std=0.3)
    rng = np.random.default_rng(4)
    coef = rng.standard_normal((300, 16)).astype(np.float32) * 3
    scale = rng.uniform(1.0, 5.0, 16)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    whole = spectral.run_traces(run, coef, scale, 16, plain.halo, window=10_000)
    windows = spectral.run_traces(run, coef, scale, 16, plain.halo, window=3 * plain.halo + 7)
    np.testing.assert_allclose(windows, whole, rtol=1e-5, atol=1e-5)


def test_export_makes_the_network_odd(tmp_path):
    """``odd``: negating the traces negates the exported network's prediction, which is the
    mean of the network's output and its negated output for the negated traces."""
    from fluorodn_train.export import export

    torch.manual_seed(1)
    net = DnCNN1d(16, depth=4, width=8, shared=True).eval()
    torch.nn.init.normal_(net.net[-1].weight, std=0.3)
    x = torch.randn(2, 32, 60)
    x[:, 16:] = torch.rand(2, 16, 1) * 0.9 + 0.1
    flipped = x.clone()
    flipped[:, :16] *= -1
    with torch.no_grad():
        expected = (0.5 * (net(x) - net(flipped))).numpy()
    path, card = export(net, tmp_path, "tiny", {"noise_scale": 0.5, "odd": True})
    assert card["odd"] is True and card["parity_max_abs_error"] < 1e-4
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(sess.run(None, {"input": flipped.numpy()})[0], -got, atol=1e-5)
    _, plain = export(net, tmp_path / "plain", "tiny", {"noise_scale": 0.5})
    assert plain["odd"] is False and card["flop_per_pixel"] == 2 * plain["flop_per_pixel"]
