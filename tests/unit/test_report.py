"""fluorodn.report: the numbers of the summary on synthetic recordings, and the files written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fluorodn.report import autocorrelation, build_report, page_summary, report_paths, write_report

T, W = 800, 64


def synthetic(seed: int = 0, sigma: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) (T, W) float64: two smooth spectra with slow traces, plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None]
    w = np.linspace(-2, 2, W)[None, :]
    clean = (
        1000 * np.exp(-(w**2)) * (1 + 0.2 * np.sin(t / 40))
        + 300 * np.exp(-((w - 1) ** 2)) * (1 + 0.3 * np.cos(t / 70))
        + 100
    )
    return clean, clean + rng.normal(0.0, sigma, (T, W))


@pytest.fixture(scope="module")
def noise_removed() -> dict:
    clean, noisy = synthetic()
    return page_summary(noisy, clean)


@pytest.fixture(scope="module")
def signal_removed() -> dict:
    _, noisy = synthetic()
    flat = np.broadcast_to(np.median(noisy, axis=0), noisy.shape)  # the slow signal is removed too
    return page_summary(noisy, flat)


def test_noise_per_bin_is_lower_after(noise_removed: dict) -> None:
    before, after = np.array(noise_removed["noise_before"]), np.array(noise_removed["noise_after"])
    assert before.shape == after.shape == (W,)
    np.testing.assert_allclose(np.median(before), 5.0, rtol=0.15)
    assert np.all(after < 0.5 * before)
    assert noise_removed["noise_ratio_median"] < 0.5


def test_partial_denoising_lowers_noise_in_proportion() -> None:
    clean, noisy = synthetic()
    half = clean + 0.5 * (noisy - clean)
    s = page_summary(noisy, half)
    assert s["noise_ratio_median"] == pytest.approx(0.5, rel=0.15)


def test_noise_left_in_few_components_is_seen() -> None:
    """An output whose leftover noise lies in one spectral component (as a projection's does)
    still shows it: half the noise level in every bin, not a numerical floor."""
    clean, noisy = synthetic()
    left = 2.5 * np.random.default_rng(7).standard_normal(T)[:, None] * np.ones(W)[None, :]
    s = page_summary(noisy, clean + left)
    assert s["noise_ratio_median"] == pytest.approx(0.5, rel=0.15)
    dead = noisy.copy()
    dead[:, 3] = 100.0  # a bin that never changes keeps its level, not a division by zero
    after = np.array(page_summary(dead, dead)["noise_after"])
    assert np.isfinite(after).all() and after[3] == pytest.approx(page_summary(dead, dead)["noise_before"][3])


def test_whiteness_near_zero_for_removed_noise(noise_removed: dict) -> None:
    assert len(noise_removed["autocorr"]) == 20
    assert abs(noise_removed["whiteness"]) < 0.05
    assert np.max(np.abs(noise_removed["autocorr"])) < 0.1


def test_whiteness_high_when_smooth_signal_removed(signal_removed: dict) -> None:
    assert signal_removed["whiteness"] > 0.7
    assert signal_removed["autocorr"][0] > 0.9


def test_leading_share_is_k_over_w_for_noise(noise_removed: dict) -> None:
    expected = noise_removed["leading_share_noise"]
    assert expected == pytest.approx(16 / W)
    assert noise_removed["leading_share"] == pytest.approx(expected, abs=0.08)


def test_leading_share_high_when_signal_removed(signal_removed: dict) -> None:
    assert signal_removed["leading_share"] > 0.9


def test_removed_time_mean_is_the_fixed_pattern() -> None:
    """A per-bin offset constant in time that denoising removed shows as the removed time mean;
    with noise alone removed that mean is the noise's mean, 5 / sqrt(800) = 0.18 per bin."""
    clean, noisy = synthetic()
    pattern = 8.0 * np.random.default_rng(3).standard_normal(W)
    s = page_summary(noisy + pattern, clean)
    assert np.corrcoef(s["removed_mean"], pattern)[0, 1] > 0.99
    assert s["removed_mean_rms"] == pytest.approx(np.sqrt(np.mean(pattern**2)), rel=0.05)
    assert page_summary(noisy, clean)["removed_mean_rms"] < 0.3


def test_autocorrelation_of_a_constant_is_zero() -> None:
    np.testing.assert_array_equal(autocorrelation(np.ones((50, 4))), np.zeros(20))


def test_report_html_is_self_contained_and_lists_everything() -> None:
    clean, noisy = synthetic()
    prov = {"model": "spectral", "precision": "fp32", "model_sha256": "ab" * 32, "fluorodn": "0.1.0",
            "settings": {"dtype": "float32"}}  # fmt: skip
    text, summary = build_report(noisy, clean, provenance=prov, warnings=["the recording is noisier than any"])
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("data:image/png;base64,") == 2
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for fragment in ("ab" * 32, "fp32", "noisier than any", "spectral"):
        assert fragment in text
    assert summary["warnings"] == ["the recording is noisier than any"]
    assert summary["provenance"] == prov
    assert len(summary["pages"]) == 1


def test_stack_has_a_section_per_page_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from fluorodn import report

    monkeypatch.setattr(report, "MAX_SECTIONS", 2)
    clean, noisy = synthetic()
    stack_noisy = np.stack([noisy[:200], noisy[200:400], noisy[400:600]])
    stack_clean = np.stack([clean[:200], clean[200:400], clean[400:600]])
    text, summary = build_report(stack_noisy, stack_clean)
    assert len(summary["pages"]) == 3
    assert "<h2>Page 0</h2>" in text and "<h2>Page 1</h2>" in text and "<h2>Page 2</h2>" not in text
    assert text.count("<tr><td>") == 3  # every page in the summary table
    assert "first 2 of 3 pages" in text


def test_sensor_traces_before_and_after() -> None:
    from fluorodn.unmixing import load_sensor

    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    text, summary = build_report(noisy[:300], clean[:300], wavelengths=wl, sensor="example", rate=5.0)
    page = summary["pages"][0]
    assert page["sensor_std_after"] < page["sensor_std_before"]
    assert page["sensor_highband_power_ratio"] < 0.5
    assert text.count("data:image/png;base64,") == 3


def test_sensor_traces_leave_out_samples_taken_with_the_light_off() -> None:
    """Unmixing gives no sensor value where the light was off: the report's sensor statistics are
    taken over the lit samples, finite and as without them, and it raises no notice of its own."""
    import warnings

    from fluorodn.unmixing import load_sensor

    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    clean, noisy = clean[:300].copy(), noisy[:300].copy()
    dark = 100.0 + np.random.default_rng(2).normal(0.0, 5.0, (20, W))
    clean[:20], noisy[:20] = dark, dark
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, summary = build_report(noisy, clean, wavelengths=wl, sensor="example", rate=5.0)
    page = summary["pages"][0]
    stats = [page["sensor_std_before"], page["sensor_std_after"], page["sensor_highband_power_ratio"]]
    assert np.isfinite(stats).all() and page["sensor_std_after"] < page["sensor_std_before"]
    json.dumps(summary, allow_nan=False)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="matching"):
        build_report(np.zeros((10, 5)), np.zeros((10, 6)))


def test_write_report_writes_html_and_json(tmp_path: Path) -> None:
    clean, noisy = synthetic()
    html_path, json_path = report_paths(tmp_path / "rec_denoised.tif")
    assert html_path.name == "rec_denoised_report.html" and json_path.name == "rec_denoised_report.json"
    written = write_report(html_path, noisy[:300], clean[:300])
    assert written == (html_path, json_path)
    summary = json.loads(json_path.read_text())
    assert summary["pages"][0]["noise_ratio_median"] < 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [html_path.name, json_path.name]
    with pytest.raises(FileExistsError):
        write_report(html_path, noisy[:300], clean[:300])
