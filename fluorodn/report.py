"""What denoising removed: a self-contained HTML report and a JSON summary.

:func:`build_report` compares a noisy (T, W) recording (time x wavelength), or a stack of
them (N, T, W), with its denoised version and returns the HTML text and a summary dict;
:func:`write_report` writes both beside an output (``<stem>_report.html`` and
``<stem>_report.json``), each atomically.

Per page the summary holds:

* ``noise_before`` (W,): the per-bin noise level of the noisy recording
  (:func:`fluorodn.spectral.noise_levels`, units of the data); ``noise_after`` (W,): that level
  scaled per bin by how much the denoised recording's second time differences shrank against
  the noisy one's (their MAD): the fluctuation left at high frequencies, where noise outweighs
  signal. Output alone cannot show the noise left at low frequencies inside the signal's
  spectral components (an estimate from the output's spectral structure, as ``noise_levels``
  makes for a recording, finds none in an output that lies in a few components);
* ``autocorr`` (``LAGS``,): the autocorrelation over time of the removed component
  ``noisy - denoised`` at lags 1..``LAGS``, each bin centred, averaged over bins
  (``whiteness`` is its mean: near 0 for white noise, near 1 when smooth signal was removed);
* ``leading_share``: the share of the removed component's energy, in whitened units
  (divided by the noisy recording's per-bin noise level), that lies in the noisy recording's
  leading spectral components (:func:`fluorodn.spectral.fit` on the other half
  of the samples), next to
  ``leading_share_noise`` = K / W, the share that noise spread evenly over the bins has;
* ``removed_mean`` (W,) and ``removed_mean_rms``: the part of the removed component that is
  constant in time, per bin, and its RMS over bins: the detector's fixed pattern where the
  spectral path removed it (white across bins), plus any shift of each bin's time mean by the
  network (smooth across bins); near 0 where only noise was removed;
* with a sensor spectrum, the sensor trace unmixed from both (:func:`fluorodn.unmix`,
  ``denoise=False``): its standard deviation and the ratio of their power spectra.

Figures are drawn with matplotlib (Agg backend, :mod:`fluorodn._report_figures`) and embedded as
base64 PNG data URIs, so the file needs no network and no other file.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn._report_figures import fig_noise, fig_segment, fig_sensor

__all__ = [
    "LAGS",
    "MAX_SECTIONS",
    "build_report",
    "event_cautions",
    "load_pages",
    "report_files",
    "report_paths",
    "write_report",
]

#: Lags (in samples) of the removed component's autocorrelation.
LAGS = 20
#: Pages of a stack that get a section of their own (all pages get a row in the summary table).
MAX_SECTIONS = 8
#: Rows used by the statistics of long recordings (a contiguous block from the middle).
STAT_ROWS = 100_000


def report_paths(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(<stem>_report.html, <stem>_report.json)`` beside ``output`` (its last suffix dropped)."""
    out = Path(output)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}_report.html"), out.with_name(f"{stem}_report.json")


def _pages(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] < 3 or arr.shape[2] < 2:
        raise ValueError(f"the {what} recording must be (T, W) or (N, T, W) with T >= 3, W >= 2; got {arr.shape}")
    return arr


def _block(x: np.ndarray) -> np.ndarray:
    t = x.shape[0]
    if t <= STAT_ROWS:
        return x
    start = (t - STAT_ROWS) // 2
    return x[start : start + STAT_ROWS]


def autocorrelation(removed: np.ndarray, lags: int = LAGS) -> np.ndarray:
    """(lags,) autocorrelation at lags 1..``lags`` of a (T, W) array, bins centred, averaged over bins."""
    r = np.asarray(removed, dtype=np.float64)
    r = r - r.mean(axis=0)
    energy = np.sum(r * r, axis=0)
    live = energy > 1e-300 * r.shape[0]
    if not live.any():
        return np.zeros(lags)
    r, energy = r[:, live], energy[live]
    lags = min(lags, r.shape[0] - 1)
    return np.array([float(np.mean(np.sum(r[k:] * r[:-k], axis=0) / energy)) for k in range(1, lags + 1)])


def leading_share(noisy: np.ndarray, removed: np.ndarray) -> tuple[float, float]:
    """(share of the whitened removed energy in ``noisy``'s leading components, K / W).

    The components are fitted on the even samples and the share measured on the odd ones,
    and the other way round (the mean of both): components fitted on the same samples
    would lean towards that noise's largest directions and inflate the share above K / W.
    """
    from fluorodn.spectral import fit

    x, r = np.asarray(noisy, dtype=np.float64), np.asarray(removed, dtype=np.float64)
    shares, expected = [], 0.0
    for fit_rows, test_rows in ((slice(0, None, 2), slice(1, None, 2)), (slice(1, None, 2), slice(0, None, 2))):
        p = fit(x[fit_rows], fixed_pattern=False)  # its basis and noise levels
        z = r[test_rows] / p.sigma
        z -= z.mean(axis=0)
        total = float(np.sum(z * z))
        shares.append(float(np.sum((z @ p.basis) ** 2)) / total if total > 0 else 0.0)
        expected = p.basis.shape[1] / p.basis.shape[0]
    return float(np.mean(shares)), expected


def _second_difference_scale(a: np.ndarray) -> np.ndarray:
    """(W,) robust spread of the second time differences of a (T, W) recording, per bin (slow
    signal cancels in them; white noise of level s gives about ``sqrt(6) * s``)."""
    from fluorodn.spectral import _mad

    d = a[2:] - 2.0 * a[1:-1] + a[:-2] if len(a) >= 3 else np.zeros((1, a.shape[1]))
    return _mad(d)


def page_summary(noisy: np.ndarray, denoised: np.ndarray) -> dict[str, Any]:
    """The numbers of one (T, W) page (see the module docstring)."""
    from fluorodn.spectral import noise_levels

    x, y = _block(np.asarray(noisy, dtype=np.float64)), _block(np.asarray(denoised, dtype=np.float64))
    before, _ = noise_levels(x)
    sx, sy = _second_difference_scale(x), _second_difference_scale(y)
    after = before * np.where(sx > 0, sy / np.where(sx > 0, sx, 1.0), 1.0)  # a constant bin keeps its level
    removed = x - y
    ac = autocorrelation(removed)
    share, expected = leading_share(x, removed)
    ratio = after / np.maximum(before, 1e-300)
    return {
        "noise_before": before.tolist(),
        "noise_after": after.tolist(),
        "noise_ratio_median": float(np.median(ratio)),
        "autocorr": ac.tolist(),
        "whiteness": float(np.mean(ac)) if ac.size else 0.0,
        "leading_share": share,
        "leading_share_noise": expected,
        "removed_rms": float(np.sqrt(np.mean(removed**2))),
        "removed_mean": removed.mean(axis=0).tolist(),
        "removed_mean_rms": float(np.sqrt(np.mean(removed.mean(axis=0) ** 2))),
    }


# -- the document ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.6em;margin-bottom:0.2em} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.6em}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f0f3f7} img{max-width:100%;display:block;margin:8px 0}
.warn{background:#fff4e0;border-left:4px solid #e89a00;padding:6px 10px;margin:6px 0}
.ok{color:#1a7f37} .bad{color:#b42318} .small{color:#666;font-size:0.9em}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "<br>".join(f"{html.escape(str(k))}: {_fmt(x)}" for k, x in v.items())
    return html.escape(str(v))


def _verdict(s: dict[str, Any]) -> str:
    white = abs(s["whiteness"]) < 0.1
    even = s["leading_share"] < 2.0 * s["leading_share_noise"] + 0.05
    if white and even:
        return '<span class="ok">looks like noise</span>'
    return '<span class="bad">structured: signal may have been removed</span>'


def build_report(
    noisy: Any,
    denoised: Any,
    *,
    wavelengths: Any = None,
    sensor: Any = None,
    rate: float | None = None,
    provenance: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
    title: str = "fluorodn report",
) -> tuple[str, dict[str, Any]]:
    """The HTML report and its summary for a noisy recording and its denoised version.

    Parameters
    ----------
    noisy, denoised : (T, W) or (N, T, W) real arrays (time x wavelength per page), same shape.
    wavelengths : the W bins' wavelengths (as :func:`fluorodn.unmix` takes them), or None.
    sensor : a sensor spectrum as :func:`fluorodn.unmix` takes it; needs ``wavelengths``.
        Adds the unmixed sensor traces before and after denoising.
    rate : samples per second (time axes, power spectra in Hz), or None.
    provenance : the record written into the denoised output (model, precision, sha256, ...).
    warnings : messages raised while denoising (e.g. ``OutOfDomainWarning``), shown as given.

    Returns
    -------
    (html text, summary dict with ``shape``, ``pages`` (one dict per page), ``provenance``,
    ``warnings``). ValueError if the shapes differ; UnmixError (from :func:`fluorodn.unmix`)
    if the sensor spectrum or wavelengths do not fit the recording.
    """
    x, y = _pages(noisy, "noisy"), _pages(denoised, "denoised")
    if x.shape != y.shape:
        raise ValueError(f"the noisy recording is {x.shape} but the denoised one is {y.shape}; give matching files")
    if sensor is not None and wavelengths is None:
        raise ValueError("a sensor spectrum needs the bins' wavelengths; give them too")
    wl = None
    if wavelengths is not None:
        from fluorodn.unmixing import wavelength_grid

        wl = wavelength_grid(wavelengths, x.shape[2])
    pages, sections = [], []
    for k in range(x.shape[0]):
        xk, yk = x[k].astype(np.float64), y[k].astype(np.float64)
        s = page_summary(xk, yk)
        parts = []
        if k < MAX_SECTIONS:
            parts.append(f'<img alt="noise per bin, autocorrelation, time mean removed" src="{fig_noise(s, wl)}">')
            parts.append(f'<img alt="segment before and after" src="{fig_segment(xk, yk, wl)}">')
        if sensor is not None:
            from fluorodn.unmixing import unmix

            a_before = unmix(xk, wl, sensor, denoise=False, rate=rate).sensor
            a_after = unmix(yk, wl, sensor, denoise=False, rate=rate).sensor
            img, stats = fig_sensor(a_before, a_after, rate)
            s.update(stats)
            if k < MAX_SECTIONS:
                parts.append(f'<img alt="unmixed sensor traces" src="{img}">')
        pages.append(s)
        if k < MAX_SECTIONS:
            sections.append((k, s, parts))

    summary: dict[str, Any] = {
        "shape": list(np.asarray(noisy).shape),
        "pages": pages,
        "provenance": provenance or {},
        "warnings": list(warnings),
        "rate": rate,
        "wavelengths": None if wl is None else wl.tolist(),
    }
    return _html(title, summary, sections), summary


def _html(title: str, summary: dict[str, Any], sections: list[tuple[int, dict[str, Any], list[str]]]) -> str:
    pages = summary["pages"]
    many = len(pages) > 1
    shape = summary["shape"] if many else summary["shape"][-2:]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="small">recording shape {" x ".join(map(str, shape))}'
        f"{' (pages x time x wavelength)' if many else ' (time x wavelength)'}</p>",
    ]
    if summary["warnings"]:
        out.append("<h2>Warnings</h2>")
        out += [f'<div class="warn">{html.escape(w)}</div>' for w in summary["warnings"]]
    out.append("<h2>Summary</h2><table><tr><th>page</th><th>noise after / before (median over bins)</th>"
               "<th>whiteness of removed (mean autocorr., lags 1-20)</th>"
               "<th>removed energy in leading components (noise: K/W)</th>"
               "<th>removed time mean, RMS over bins</th><th>verdict</th></tr>")  # fmt: skip
    for k, s in enumerate(pages):
        out.append(
            f"<tr><td>{k}</td><td>{s['noise_ratio_median']:.3g}</td><td>{s['whiteness']:.3f}</td>"
            f"<td>{s['leading_share']:.3f} ({s['leading_share_noise']:.3f})</td>"
            f"<td>{s['removed_mean_rms']:.3g}</td><td>{_verdict(s)}</td></tr>"
        )
    out.append("</table>")
    if len(pages) > MAX_SECTIONS:
        out.append(f'<p class="small">Figures for the first {MAX_SECTIONS} of {len(pages)} pages.</p>')
    for k, s, parts in sections:
        out.append(f"<h2>Page {k}</h2>" if many else "<h2>What denoising removed</h2>")
        if "sensor_std_before" in s:
            out.append(
                f"<p>sensor trace: std {s['sensor_std_before']:.4g} from the noisy recording, "
                f"{s['sensor_std_after']:.4g} from the denoised one; power in the upper half of the band "
                f"after / before: {s['sensor_highband_power_ratio']:.3g}</p>"
            )
        out += parts
    prov = summary["provenance"]
    if prov:
        out.append("<h2>Provenance</h2><table>")
        out += [f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in prov.items()]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    path_html: str | os.PathLike[str],
    noisy: Any,
    denoised: Any,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> tuple[Path, Path]:
    """Write :func:`build_report`'s HTML to ``path_html`` and its summary beside it (``.json``).

    Both are written atomically (:func:`fluorodn.io.atomic_output`); ``kwargs`` go to
    :func:`build_report`. Returns (html path, json path).
    """
    from fluorodn.io import atomic_output

    dest = Path(path_html)
    dest_json = dest.with_suffix(".json")
    text, summary = build_report(noisy, denoised, **kwargs)
    with atomic_output(dest, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with atomic_output(dest_json, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return dest, dest_json


def load_pages(path: str | os.PathLike[str], key: str | None = None) -> tuple[np.ndarray, str | None]:
    """All pages of a recording file as (N, H, W), and the .mat/HDF5 variable read (or None)."""
    import contextlib

    from fluorodn import io as fio

    with contextlib.closing(fio.open_recording(path, key=key)) as rec:
        return np.stack([np.array(p) for p in rec.pages()]), getattr(rec, "key", None)


def event_cautions(noisy: Any, provenance: dict[str, Any] | None) -> list[str]:
    """The cautions about events counted on a denoised recording (the messages of
    :class:`fluorodn.EventDetectionWarning`), found again on its noisy (T, W) or (N, T, W) pages for
    a report given no messages of the run: on each page the spectral path took, with the settings
    and the number of spectral components ``provenance`` (the record in the denoised file) names. An
    output of the spectral model records its spectral settings, and each of its pages that holds a
    recording is read; a file that records nothing is read as the default denoises it (the pages
    that look like recordings, default settings); an image model's output gets none. Values that are
    not finite are bridged over time first, as ``--nan fill`` bridges them for a run. Each distinct
    message once."""
    from fluorodn import spectral
    from fluorodn._file_pipeline import fill_nonfinite
    from fluorodn.denoiser import SPECTRAL_DEFAULTS, DenoiserOptions

    settings = dict((provenance or {}).get("settings") or {})
    if provenance and not any(name in settings for name in SPECTRAL_DEFAULTS):
        return []
    recorded = {name: type(default)(settings[name]) for name, default in SPECTRAL_DEFAULTS.items() if name in settings}
    try:
        options = DenoiserOptions(**recorded)
    except (TypeError, ValueError):  # a record no run writes: read as the default's
        options = DenoiserOptions()
    components = (provenance or {}).get("components", spectral.COMPONENTS)
    if not isinstance(components, int) or isinstance(components, bool) or components < 1:
        components = spectral.COMPONENTS  # a record no run writes: read as the default's
    takes = spectral.takes_recording if provenance else spectral.looks_spectral
    found: list[str] = []
    for page in _pages(noisy, "noisy"):
        if takes(page.shape) and np.isfinite(page).any():
            filled, _ = fill_nonfinite(page)  # as a run with --nan fill read it
            found += spectral.recording_cautions(
                filled,
                components,
                fixed_pattern=not options.keep_fixed_pattern,
                filters_over_time=options.filters_over_time,
            )
    return list(dict.fromkeys(found))


def report_files(
    noisy_path: str | os.PathLike[str],
    denoised_path: str | os.PathLike[str],
    dest: str | os.PathLike[str] | None = None,
    *,
    key: str | None = None,
    denoised_key: str | None = None,
    wavelengths: Any = None,
    sensor: Any = None,
    rate: float | None = None,
    provenance: dict[str, Any] | None = None,
    warnings: Sequence[str] | None = None,
    reword: Callable[[str], str] = str,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Report on two recording files: :func:`write_report` to ``dest`` (default
    ``<denoised stem>_report.html``).

    A .mat/HDF5 denoised file holds the input's variables too: unless ``denoised_key`` is
    given, its ``<key>_denoised`` variable is read where it exists. ``wavelengths`` and
    ``rate`` default to what the noisy file's metadata states
    (:func:`fluorodn.unmixing.recording_metadata`). ``warnings``: the messages of the run that
    wrote the denoised file; None (not known) shows the cautions about events found again on the
    noisy file (:func:`event_cautions`), each through ``reword``. Returns (html path, json path).
    """
    from fluorodn.errors import FluorodnError
    from fluorodn.unmixing import recording_metadata

    noisy, used_key = load_pages(noisy_path, key)
    if denoised_key is None and used_key is not None:
        try:
            denoised, _ = load_pages(denoised_path, f"{used_key}_denoised")
        except FluorodnError:
            denoised, _ = load_pages(denoised_path, None)
    else:
        denoised, _ = load_pages(denoised_path, denoised_key)
    meta = recording_metadata(noisy_path)
    if wavelengths is None and "wavelength_nm" in meta:
        wavelengths = meta["wavelength_nm"]
        if len(wavelengths) == 2 and noisy.shape[2] != 2:
            wavelengths = f"{wavelengths[0]}:{wavelengths[1]}"
    if rate is None and meta.get("sampling_hz"):
        rate = float(meta["sampling_hz"])
    if provenance is None:
        provenance = stored_provenance(denoised_path)
    if warnings is None:
        warnings = [reword(m) for m in event_cautions(noisy, provenance)]
    html_path = Path(dest) if dest is not None else report_paths(denoised_path)[0]
    return write_report(
        html_path,
        noisy,
        denoised,
        wavelengths=wavelengths,
        sensor=sensor,
        rate=rate,
        provenance=provenance,
        warnings=warnings,
        overwrite=overwrite,
        title=f"fluorodn report: {Path(noisy_path).name} -> {Path(denoised_path).name}",
    )


def stored_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance fluorodn wrote into a denoised TIFF or .mat file, or None (NPY holds none)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            from fluorodn._tiff import read_provenance

            return read_provenance(path)
        if suffix == ".mat":
            import scipy.io

            from fluorodn._mat import PROVENANCE_VAR

            value = scipy.io.loadmat(path, variable_names=[PROVENANCE_VAR]).get(PROVENANCE_VAR)
            return None if value is None else dict(json.loads(str(np.asarray(value).ravel()[0])))
    except Exception:  # unreadable provenance is no provenance: the report shows none
        return None
    return None
