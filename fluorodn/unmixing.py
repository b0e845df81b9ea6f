"""Unmixing: the sensor's trace a(t) from a spectral recording, separated from hemoglobin.

Every time sample t of a (T, W) recording (time x wavelength, counts) is fitted with

    F(t, l) - dark(l) = E(l) * gain(t) * exp(sensor(t) S(l) - hbo2(t) k_HbO2(l) - hb(t) k_Hb(l)) + offset(t)

* ``E(l)``: the recording's typical emission spectrum, estimated from the recording itself:
  the median spectrum over time, then corrected once by the median residual of a first fit.
  The fitted traces are therefore relative to the recording's typical state (the state whose
  spectrum is E): ``sensor`` and the hemoglobin terms are near 0 on average, ``gain`` near 1.
* ``S(l)``: the sensor's ligand response, dF/F per unit of ``sensor`` (a CSV of the user's).
* ``k_HbO2, k_Hb``: hemoglobin absorption per µM·cm, ``ln(10) * 1e-6 * e(l)`` with ``e`` the
  molar extinction of :mod:`fluorodn.hemoglobin`; ``hbo2`` and ``hb`` are changes of
  concentration times effective path length, in µM·cm.
* ``gain(t)``: wavelength-independent brightness (bleaching, light coupling), 1 = typical.
* ``offset(t)``: wavelength-independent additive offset in the recording's units (counts),
  relative to the typical state like the other terms: E holds the recording's typical offset,
  so ``offset`` is near 0 on typical samples and shows additive artifacts (movement). An
  additive background present all the time (detector dark level, fiber autofluorescence)
  cannot be told apart from E from the recording alone; give it as ``dark``.

The fit is linearised: ``log((F - dark) / E)`` is, to first order in offset/F, linear in
``log gain, sensor, hbo2, hb`` and ``offset / gain`` (whose spectrum is 1/E), so all samples
are solved at once with one weighted least-squares pseudo-inverse of a (W, 5) design; the fit
runs twice, the second time on the data minus the first fit's offset, which removes most of the
first-order error. Each bin is weighted by the inverse variance of its log intensity,
E^2 / sigma^2, with sigma the bin's noise estimated from the input's sample-to-sample
differences (shot and dark noise alike).
``refine=True`` then fits the full model above per sample with ``scipy.optimize.least_squares``
(residuals ``(F - dark - model) / sigma``), starting at the linear solution.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np

from fluorodn import hemoglobin
from fluorodn.errors import FluorodnError, OutputExistsError

__all__ = [
    "COLUMNS",
    "LN10_PER_UM",
    "REFINE_TOL",
    "SENSORS",
    "UnmixError",
    "UnmixResult",
    "load_sensor",
    "read_sensor",
    "read_values",
    "recording_metadata",
    "unmix",
    "unmix_file",
    "wavelength_grid",
]

#: Columns of the table an :class:`UnmixResult` writes, in order.
COLUMNS = ("sample", "time_s", "sensor", "hbo2", "hb", "offset", "residual_rms", "gain")
#: Sensor spectra shipped in ``fluorodn/data``, by name.
SENSORS = {"example": "example_sensor.csv"}
#: Natural-log absorbance per µM·cm of a decadic molar extinction of 1 cm^-1/(mol/L).
LN10_PER_UM = math.log(10.0) * 1e-6
#: Output formats of :meth:`UnmixResult.save`, by extension.
OUTPUT_FORMATS = (".csv", ".parquet", ".nwb")

_RANGE = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*:\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*$")
_MIN_SAMPLES = 3
_STAT_ROWS = 8192  # samples the per-bin medians (noise, emission) are taken over, at most about
_LOG_FLOOR = 0.1  # log((F - dark) / E) is taken of max(F - dark, 0.1 E)
#: ftol, xtol and gtol of the per-sample refinement (scipy's defaults, stated so that tests can use the same).
REFINE_TOL = 1e-8

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]


class UnmixError(FluorodnError, ValueError):
    """The recording, its wavelengths, the sensor spectrum or the dark level cannot be used for unmixing."""


# -- inputs: wavelengths, sensor spectrum, metadata ---------------------------------------


def read_values(path: PathLike, what: str) -> np.ndarray:
    """The numbers of a one-column text/CSV file (a header line and ``#`` comments allowed), (N,) float64."""
    rows = _read_rows(path, what)
    if any(len(r) != 1 for r in rows):
        raise UnmixError(f"{path} must hold one column of {what}, one value per line; it has several columns")
    return np.array([r[0] for r in rows], dtype=np.float64)


def read_sensor(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength_nm, dff) of a sensor spectrum CSV, sorted by wavelength, each (N,) float64.

    Two columns, ``wavelength_nm,dff``; a header line and ``#`` comments are allowed.
    """
    rows = _read_rows(path, "the sensor spectrum (wavelength_nm,dff)")
    if any(len(r) != 2 for r in rows):
        raise UnmixError(f"{path} must have two columns, wavelength_nm,dff; some lines have another number")
    data = np.array(rows, dtype=np.float64)
    order = np.argsort(data[:, 0], kind="stable")
    wl, dff = data[order, 0], data[order, 1]
    if len(wl) < 2 or np.any(np.diff(wl) <= 0):
        raise UnmixError(f"{path} must list at least two different wavelengths, each once")
    return wl, dff


def load_sensor(sensor: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength_nm, dff) of ``sensor``: a CSV file, or a shipped spectrum's name (:data:`SENSORS`)."""
    if Path(sensor).is_file():
        return read_sensor(sensor)
    if str(sensor) in SENSORS:
        with resources.as_file(resources.files("fluorodn") / "data" / SENSORS[str(sensor)]) as shipped:
            return read_sensor(shipped)
    raise UnmixError(
        f"sensor spectrum {sensor} is neither a file nor a shipped spectrum ({', '.join(SENSORS)}); "
        "give a CSV with columns wavelength_nm,dff"
    )


def wavelength_grid(spec: Any, n_bins: int) -> np.ndarray:
    """The (n_bins,) wavelengths in nm described by ``spec``.

    ``spec``: ``"FIRST:LAST"`` (evenly spaced over the bins), a one-column CSV file, or a
    sequence of ``n_bins`` numbers. Raises :class:`UnmixError` if the count differs from
    ``n_bins`` or the values are not finite and strictly monotonic.
    """
    if isinstance(spec, str) and (m := _RANGE.match(spec)):
        wl = np.linspace(float(m.group(1)), float(m.group(2)), n_bins)
        given = "the range " + spec.strip()
    elif isinstance(spec, (str, os.PathLike)):
        if not Path(spec).is_file():
            raise UnmixError(
                f"wavelengths {spec} is neither FIRST:LAST (e.g. 477:595) nor an existing one-column CSV file"
            )
        wl = read_values(spec, "wavelengths in nm")
        given = str(spec)
    else:
        try:
            wl = np.asarray(spec, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise UnmixError(f"wavelengths must be numbers in nm, FIRST:LAST or a CSV file, not {spec!r}") from err
        given = "the wavelengths given"
    if wl.size != n_bins:
        raise UnmixError(f"{given} lists {wl.size} wavelengths, but the recording has {n_bins} bins (columns)")
    if not np.isfinite(wl).all() or (n_bins > 1 and not (np.all(np.diff(wl) > 0) or np.all(np.diff(wl) < 0))):
        raise UnmixError(f"{given} must be finite wavelengths in nm, strictly increasing or decreasing")
    return wl


def recording_metadata(path: PathLike) -> dict[str, Any]:
    """Wavelengths and sampling rate stored in a recording file, where it holds them.

    A TIFF whose image description is JSON with ``wavelength_nm`` (all the bins' wavelengths,
    or [first, last]) and ``sampling_hz`` (at any depth), as ``fluorodn example`` writes, gives
    ``{"wavelength_nm": [...], "sampling_hz": 5.0}``; other files give ``{}``.
    """
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return {}
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            text = tif.pages[0].description if tif.pages else ""
        doc = json.loads(text) if text.lstrip().startswith("{") else {}
    except Exception:  # unreadable metadata is no metadata; the recording itself is read (and checked) elsewhere
        return {}
    found: dict[str, Any] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("wavelength_nm", "sampling_hz") and key not in found:
                    found[key] = value
                else:
                    visit(value)

    visit(doc)
    return found


def _read_rows(path: PathLike, what: str) -> list[list[float]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "not a text file"
        raise UnmixError(f"cannot read {path} ({why}); give a CSV file of {what}") from err
    rows: list[list[float]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in re.split(r"[,;\t ]+", line) if f.strip()]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if rows or any(_is_number(f) for f in fields):  # only one header line, before the numbers
                raise UnmixError(f"{path}, line {n}: {line[:60]!r} is not numbers; give a CSV of {what}") from None
    if not rows:
        raise UnmixError(f"{path} holds no numbers; give a CSV file of {what}")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- the result -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UnmixResult:
    """Per-sample traces of an unmixed recording; the arrays are (T,) float64 unless noted.

    The model (see :mod:`fluorodn.unmixing`): ``log(F - dark - offset) = log(emission) +
    log(gain) + sensor * response - hbo2 * hbo2_spectrum - hb * hb_spectrum``.
    """

    sensor: np.ndarray
    """a(t): the sensor's trace, in units of the sensor spectrum (dF/F = sensor * response)."""
    hbo2: np.ndarray
    """Oxy-hemoglobin change times effective path length, µM·cm."""
    hb: np.ndarray
    """Deoxy-hemoglobin change times effective path length, µM·cm."""
    offset: np.ndarray
    """Wavelength-independent additive offset, in the recording's units (counts)."""
    gain: np.ndarray
    """Wavelength-independent brightness relative to ``emission`` (1 = the typical state)."""
    residual_rms: np.ndarray
    """RMS over bins of the relative residual (F - model) / model, weighted like the fit."""
    time_s: np.ndarray | None
    """Sample times in seconds (sample / rate), or None when the rate is unknown."""
    wavelengths: np.ndarray
    """(W,) bin wavelengths, nm."""
    emission: np.ndarray
    """(W,) E(l): the typical emission spectrum above dark, counts (0 where a bin holds no signal)."""
    noise: np.ndarray
    """(W,) noise standard deviation per bin of the input (before any denoising), counts."""
    response: np.ndarray
    """(W,) S(l): the sensor's dF/F per unit of ``sensor`` on the recording's wavelengths."""
    hbo2_spectrum: np.ndarray
    """(W,) absorbance (natural log) per µM·cm of oxy-hemoglobin, ``LN10_PER_UM * e_HbO2``."""
    hb_spectrum: np.ndarray
    """(W,) absorbance (natural log) per µM·cm of deoxy-hemoglobin, ``LN10_PER_UM * e_Hb``."""
    denoised_with: str | None
    """Name of the model that denoised the recording first, or None."""
    refined: bool
    """Whether the full nonlinear model was fitted per sample (else the linearised fit)."""

    def columns(self) -> dict[str, np.ndarray]:
        """The output table as {name: (T,) array} in :data:`COLUMNS` order (time_s NaN if unknown)."""
        n = len(self.sensor)
        time_s = self.time_s if self.time_s is not None else np.full(n, np.nan)
        return {
            "sample": np.arange(n, dtype=np.int64),
            "time_s": time_s,
            "sensor": self.sensor,
            "hbo2": self.hbo2,
            "hb": self.hb,
            "offset": self.offset,
            "residual_rms": self.residual_rms,
            "gain": self.gain,
        }

    def save(self, path: PathLike, *, overwrite: bool = False, source: PathLike | None = None) -> Path:
        """Write the table to ``path``: CSV, Parquet for a ``.parquet`` name (needs pyarrow), or NWB
        for a ``.nwb`` name (:func:`fluorodn.formats.nwb.write_unmixed`; needs the ``nwb`` extra).

        Written atomically (:func:`fluorodn.io.atomic_output`); an existing file is refused
        unless ``overwrite``, and ``source`` (the input) is never replaced.
        """
        path = Path(path)
        if path.suffix.lower() == ".parquet":
            return self.to_parquet(path, overwrite=overwrite, source=source)
        if path.suffix.lower() == ".nwb":
            return self.to_nwb(path, overwrite=overwrite, source=source)
        return self.to_csv(path, overwrite=overwrite, source=source)

    def to_nwb(self, path: PathLike, *, overwrite: bool = False, source: PathLike | None = None) -> Path:
        """Write the traces as NWB (ndx-fiber-photometry), start time and timestamps from ``source``."""
        from fluorodn.formats.nwb import write_unmixed
        from fluorodn.io import atomic_output

        if source is None:
            raise UnmixError("an NWB output needs the recording it comes from (source=) for its start time")
        path = Path(path)
        prov = {"denoised_with": self.denoised_with, "refined": self.refined}
        with atomic_output(path, overwrite=overwrite, source=Path(source)) as tmp:
            write_unmixed(self, tmp, source, provenance=prov)
        return path

    def to_csv(self, path: PathLike, *, overwrite: bool = False, source: PathLike | None = None) -> Path:
        """Write the table as CSV with a header line; an unknown time_s is left empty. Returns the path."""
        from fluorodn.io import atomic_output

        path = Path(path)
        cols = self.columns()
        values = np.column_stack([cols[name] for name in COLUMNS[1:]])
        with (
            atomic_output(path, overwrite=overwrite, source=_opt_path(source)) as tmp,
            open(tmp, "w", encoding="utf-8", newline="\n") as fh,
        ):
            fh.write(",".join(COLUMNS) + "\n")
            for k, row in enumerate(values.tolist()):
                fh.write(f"{k}," + ",".join("" if v != v else f"{v:.9g}" for v in row) + "\n")
        return path

    def to_parquet(self, path: PathLike, *, overwrite: bool = False, source: PathLike | None = None) -> Path:
        """Write the table as Parquet (pyarrow); an unknown time_s is null. Returns the path."""
        from fluorodn.io import atomic_output

        _need_pyarrow(path)
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
        path = Path(path)
        cols = self.columns()
        arrays = [pa.array(v, from_pandas=True) for v in cols.values()]  # from_pandas: NaN time_s -> null
        table = pa.Table.from_arrays(arrays, names=list(cols))
        with atomic_output(path, overwrite=overwrite, source=_opt_path(source)) as tmp:
            pq.write_table(table, str(tmp))
        return path

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame indexed by sample (needs pandas)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as err:
            raise ImportError("UnmixResult.to_frame needs pandas; pip install pandas, or use columns()") from err
        return pd.DataFrame(self.columns()).set_index("sample")


def _opt_path(p: PathLike | None) -> Path | None:
    return None if p is None else Path(p)


def _need_pyarrow(path: PathLike) -> None:
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        raise UnmixError(
            f"writing {path} needs pyarrow, which is not installed; pip install pyarrow, or write a .csv"
        ) from None


# -- the fit --------------------------------------------------------------------------


def unmix(
    arr: Any,
    wavelengths: Any,
    sensor: Any,
    denoise: Any = True,
    rate: float | None = None,
    refine: bool = False,
    *,
    dark: Any = None,
    progress: Progress | None = None,
) -> UnmixResult:
    """Unmix a spectral recording into the sensor's trace, hemoglobin and brightness terms.

    Parameters
    ----------
    arr : (T, W) array, time x wavelength, any real dtype, in counts (or any units
        proportional to photons above ``dark``). Not modified.
    wavelengths : the W bins' wavelengths in nm: a sequence of W numbers, ``"FIRST:LAST"``
        (evenly spaced), or a one-column CSV file.
    sensor : the sensor's ligand response S(l) as dF/F per unit: a CSV file
        ``wavelength_nm,dff``, a shipped name (``"example"``), or a pair of arrays
        ``(wavelength_nm, dff)``; interpolated linearly onto ``wavelengths``, which it must cover.
    denoise : True (denoise with ``fluorodn.Denoiser()`` first), False, a model name or
        ``.onnx`` path, or a :class:`~fluorodn.Denoiser` to use. The bins' noise that weights
        the fit is always measured on ``arr`` as given.
    rate : samples per second, for ``time_s``; None leaves ``time_s`` None.
    refine : also fit the full nonlinear model per sample (``scipy.optimize.least_squares``,
        Levenberg-Marquardt), starting at the linearised solution. About 1 ms per sample.
    dark : detector dark level subtracted first: a number or (W,) per bin, in ``arr``'s
        units. None: ``arr`` is taken as dark-subtracted (an unsubtracted dark level scales
        the fitted changes down by E / (E + dark) in each bin).
    progress : called as ``progress(done, total)`` with the number of samples refined so far,
        every few hundred samples (refine only).

    Returns
    -------
    UnmixResult with (T,) float64 traces ``sensor``, ``hbo2``, ``hb``, ``offset``, ``gain``,
    ``residual_rms`` (relative to the recording's typical state; see :mod:`fluorodn.unmixing`).

    Raises
    ------
    UnmixError : not a finite 2D real array, fewer than 3 samples or 5 bins with signal, a
        wavelength count that differs from the columns, a (W, T) array (transposed), or a
        sensor spectrum that does not cover the wavelengths.

    Examples
    --------
    >>> import fluorodn, tifffile                                      # doctest: +SKIP
    >>> rec = tifffile.imread("example.tif")                           # (3000, 152) float32
    >>> res = fluorodn.unmix(rec, "477:595", "example", rate=5.0)      # doctest: +SKIP
    >>> res.sensor.shape, res.to_csv("example_unmixed.csv")            # doctest: +SKIP
    """
    x = _check_recording(arr)
    wl = _wavelengths_for(wavelengths, x.shape)
    response = _sensor_on(sensor, wl)
    try:
        e_hbo2, e_hb = hemoglobin.extinction(wl)
    except ValueError as err:
        raise UnmixError(str(err)) from err
    k_hbo2, k_hb = LN10_PER_UM * e_hbo2, LN10_PER_UM * e_hb
    dark_w = _dark_levels(dark, x.shape[1])
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise UnmixError(f"the sampling rate must be a positive number of samples per second, not {rate}")

    noise = _noise_sigma(x - dark_w)
    model_name = None
    if denoise is not False and denoise is not None:
        if denoise is True or isinstance(denoise, (str, os.PathLike)):
            from fluorodn.denoiser import Denoiser

            denoise = Denoiser() if denoise is True else Denoiser(denoise)
        x = np.asarray(denoise.run(x), dtype=np.float64)
        model_name = str(denoise.name)
    z = x - dark_w
    basis = np.stack([response, -k_hbo2, -k_hb])  # exponent per unit of (sensor, hbo2, hb)
    coef, emission, rms = _linear_fit(z, basis, noise)
    gain = np.exp(coef[:, 0])
    params = np.column_stack([coef[:, 0], coef[:, 1:4], coef[:, 4] * gain])  # log gain, a, h1, h2, offset
    if refine:
        params, rms = _refine(z, emission, basis, noise, params, progress)
        gain = np.exp(params[:, 0])
    n = x.shape[0]
    return UnmixResult(
        sensor=params[:, 1].copy(),
        hbo2=params[:, 2].copy(),
        hb=params[:, 3].copy(),
        offset=params[:, 4].copy(),
        gain=gain,
        residual_rms=rms,
        time_s=None if rate is None else np.arange(n) / float(rate),
        wavelengths=wl,
        emission=emission,
        noise=noise,
        response=response,
        hbo2_spectrum=k_hbo2,
        hb_spectrum=k_hb,
        denoised_with=model_name,
        refined=bool(refine),
    )


def _check_recording(arr: Any) -> np.ndarray:
    x = np.asarray(arr)
    if x.dtype.kind not in "iuf" or x.ndim != 2 or x.size == 0:
        raise UnmixError(
            f"unmixing needs one 2D (time, wavelength) array of real numbers, got {x.dtype} data of shape {x.shape}"
        )
    if x.shape[0] < _MIN_SAMPLES:
        raise UnmixError(f"the recording has {x.shape[0]} time samples; unmixing needs at least {_MIN_SAMPLES}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise UnmixError("the recording holds NaN or infinite values; replace them (e.g. interpolate) first")
    return x


def _wavelengths_for(spec: Any, shape: tuple[int, int]) -> np.ndarray:
    """The wavelengths of the columns, refusing a recording stored as (wavelength, time)."""
    rows, cols = shape
    is_range = isinstance(spec, str) and _RANGE.match(spec) is not None
    if not is_range:
        try:
            n = _count(spec)
        except (UnmixError, TypeError, ValueError):
            n = cols  # wavelength_grid says what is wrong with spec
        if n != cols and n == rows:
            raise UnmixError(
                f"the recording is {rows} x {cols} and the {n} wavelengths match its rows: it looks "
                "transposed (wavelength x time); pass it as (time, wavelength), e.g. arr.T"
            )
    elif cols > rows:
        raise UnmixError(
            f"the recording has more columns ({cols}) than rows ({rows}): it looks transposed "
            "(wavelength x time); pass it as (time, wavelength), or list all the wavelengths to confirm the columns"
        )
    return wavelength_grid(spec, cols)


def _count(spec: Any) -> int:
    if isinstance(spec, (str, os.PathLike)):
        return len(read_values(spec, "wavelengths in nm"))
    return int(np.asarray(spec).size)


def _sensor_on(sensor: Any, wl: np.ndarray) -> np.ndarray:
    if isinstance(sensor, (str, os.PathLike)):
        sw, dff = load_sensor(sensor)
        name = str(sensor)
    else:
        try:
            sw, dff = (np.asarray(v, dtype=np.float64).reshape(-1) for v in sensor)
        except (TypeError, ValueError) as err:
            raise UnmixError(
                "sensor must be a CSV file (wavelength_nm,dff), a shipped name, or (wavelength_nm, dff) arrays"
            ) from err
        if sw.shape != dff.shape or sw.size < 2 or not np.isfinite(sw).all() or not np.all(np.diff(sw) > 0):
            raise UnmixError("sensor (wavelength_nm, dff) must be two arrays of equal length, wavelengths increasing")
        name = "the sensor spectrum"
    if not np.isfinite(dff).all():
        raise UnmixError(f"{name} holds NaN or infinite dF/F values")
    lo, hi = float(wl.min()), float(wl.max())
    tol = 1e-6 * max(1.0, hi)
    if sw[0] > lo + tol or sw[-1] < hi - tol:
        raise UnmixError(
            f"{name} covers {sw[0]:g}-{sw[-1]:g} nm but the recording {lo:g}-{hi:g} nm; "
            "give a sensor spectrum over the whole range (it is not extrapolated)"
        )
    response = np.interp(wl, sw, dff)
    if not np.any(response):
        raise UnmixError(f"{name} is zero over the recording's wavelengths, so the sensor cannot be seen")
    return response


def _dark_levels(dark: Any, n_bins: int) -> np.ndarray:
    if dark is None:
        return np.zeros(n_bins)
    if isinstance(dark, (str, os.PathLike)):
        text = str(dark)
        values = np.array([float(text)]) if _is_number(text) else read_values(dark, "dark levels per bin")
    else:
        values = np.asarray(dark, dtype=np.float64).reshape(-1)
    if values.size == 1:
        values = np.full(n_bins, values[0])
    if values.size != n_bins or not np.isfinite(values).all():
        raise UnmixError(
            f"the dark level must be one number or {n_bins} finite values (one per bin), got {values.size}"
        )
    return values


def _rows(n: int) -> slice:
    """Evenly spaced rows (at most about :data:`_STAT_ROWS`) for the per-bin medians."""
    return slice(None, None, max(1, -(-n // _STAT_ROWS)))


def _noise_sigma(z: np.ndarray) -> np.ndarray:
    """(W,) robust noise std per bin: MAD of the sample-to-sample differences / sqrt(2)."""
    rows = _rows(z.shape[0] - 1)
    d = z[1:][rows] - z[:-1][rows]
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    sigma = 1.4826 * mad / math.sqrt(2.0)
    positive = sigma[sigma > 0]
    floor = 1e-6 * float(np.median(positive)) if positive.size else 1.0
    return np.maximum(sigma, floor)


def _linear_fit(z: np.ndarray, basis: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted log-linear fit of all samples at once.

    E is the median spectrum, corrected by the median residual of a first fit; both medians
    are taken over evenly spaced samples (at most about 8192). The offset enters the log only
    to first order, so the fit runs twice: the second time on the data minus the first fit's
    offset. Returns (coef (T, 5): log gain, sensor, hbo2, hb, offset / gain; emission (W,),
    0 in bins without signal; residual_rms (T,)).
    """
    z = z.astype(np.float32)  # the full-size work in float32: log residuals are far above its rounding
    sub = z[_rows(z.shape[0])]
    emission = np.median(sub, axis=0).astype(np.float64)
    good = emission > 0
    if good.sum() < 5:
        raise UnmixError(
            f"only {int(good.sum())} wavelength bins hold signal above the dark level; unmixing needs at least 5 "
            "(check the dark level and that the recording is fluorescence)"
        )
    _, resid, _ = _solve(sub, emission, good, basis, noise, check=True)
    emission = np.where(good, emission * np.exp(np.median(resid, axis=0)), 0.0)
    coef, _, _ = _solve(z, emission, good, basis, noise, residuals=False)
    offset = coef[:, 4] * np.exp(coef[:, 0])
    z -= offset[:, None].astype(np.float32)
    coef, resid, sw = _solve(z, emission, good, basis, noise)
    coef[:, 4] += offset * np.exp(-coef[:, 0])
    w = (sw**2 / (sw**2).sum()).astype(np.float32)
    np.expm1(resid, out=resid)  # log residual -> (F - model) / model
    rms = np.sqrt(np.square(resid, out=resid) @ w).astype(np.float64)
    return coef, emission, rms


def _solve(
    z: np.ndarray,
    emission: np.ndarray,
    good: np.ndarray,
    basis: np.ndarray,
    noise: np.ndarray,
    *,
    check: bool = False,
    residuals: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coef (T, 5), log residuals (T, W) or an empty array, sqrt of the bin weights (W,)) for a fixed E."""
    e = np.where(good, emission, 1.0)
    sw = np.where(good, e / noise, 0.0)  # sqrt of the weights E^2 / sigma^2 (inverse variance of log F)
    design = np.column_stack([np.ones(len(e)), basis.T, 1.0 / e])
    if check:
        _check_identifiable(design, sw)
    pinv = np.linalg.pinv(design * sw[:, None])  # (5, W)
    e32 = e.astype(z.dtype)
    y = np.maximum(z, _LOG_FLOOR * e32)
    y /= e32
    np.log(y, out=y)
    coef = (y @ (pinv * sw).T.astype(z.dtype)).astype(np.float64)
    if not residuals:
        return coef, np.empty(0), sw
    y -= coef.astype(z.dtype) @ design.T.astype(z.dtype)
    y[:, ~good] = 0.0
    return coef, y, sw


def _check_identifiable(design: np.ndarray, sw: np.ndarray) -> None:
    """Warn when the sensor spectrum is (nearly) a mix of the other terms' spectra."""
    d = design * sw[:, None]
    others = np.delete(d, 1, axis=1)
    fit, *_ = np.linalg.lstsq(others, d[:, 1], rcond=None)
    left = d[:, 1] - others @ fit
    share = float(left @ left / max(d[:, 1] @ d[:, 1], 1e-300))
    if share < 1e-3:
        warnings.warn(
            "the sensor spectrum is almost a mix of the brightness, offset and hemoglobin spectra over these "
            f"wavelengths ({share:.1e} of it is distinct): its trace cannot be told apart from brightness changes",
            UserWarning,
            stacklevel=3,
        )


def _refine(
    z: np.ndarray,
    emission: np.ndarray,
    basis: np.ndarray,
    noise: np.ndarray,
    start: np.ndarray,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample Levenberg-Marquardt on the full model; returns (params (T, 5), residual_rms (T,))."""
    from scipy.optimize import least_squares

    good = emission > 0
    e = emission[good]
    inv = 1.0 / noise[good]
    expo = np.column_stack([np.ones(int(good.sum())), basis[:, good].T])  # (W', 4)
    zg = z[:, good]
    w = (e * inv) ** 2

    def residuals(p: np.ndarray, zt: np.ndarray) -> np.ndarray:
        return (zt - e * np.exp(expo @ p[:4]) - p[4]) * inv

    def jacobian(p: np.ndarray, zt: np.ndarray) -> np.ndarray:
        g = e * np.exp(expo @ p[:4])
        jac = np.empty((len(e), 5))
        jac[:, :4] = expo * (-g * inv)[:, None]
        jac[:, 4] = -inv
        return jac

    params = np.array(start, dtype=np.float64, copy=True)
    rms = np.empty(len(zg))
    block = 500
    for k, zt in enumerate(zg):
        sol = least_squares(
            residuals, params[k], jac=jacobian, args=(zt,), method="lm", x_scale="jac",
            ftol=REFINE_TOL, xtol=REFINE_TOL, gtol=REFINE_TOL,
        )  # fmt: skip
        params[k] = sol.x
        model = e * np.exp(expo @ sol.x[:4]) + sol.x[4]
        rel = (zt - model) / model
        rms[k] = math.sqrt(float(rel * rel @ w / w.sum()))
        if progress is not None and ((k + 1) % block == 0 or k + 1 == len(zg)):
            progress(k + 1, len(zg))
    return params, rms


# -- files ------------------------------------------------------------------------------


def unmix_file(
    path: PathLike,
    sensor: Any,
    wavelengths: Any = None,
    *,
    output: PathLike | None = None,
    denoise: Any = True,
    rate: float | None = None,
    refine: bool = False,
    dark: Any = None,
    key: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    guppy: PathLike | None = None,
) -> tuple[UnmixResult, Path]:
    """Unmix one recording file and write its table; returns (result, output path).

    ``wavelengths`` and ``rate`` default to the file's metadata (:func:`recording_metadata`);
    a spectrometer file (:mod:`fluorodn.formats`: OceanView export, HDF5 with axes) gives its
    wavelengths and its timestamps, which become ``time_s`` (a ``rate`` given is checked
    against them). ``output`` defaults to ``<stem>_unmixed.csv`` beside the input (``.parquet``: Parquet).
    Everything is checked before the output is written, and an existing output is refused
    before any work unless ``overwrite``. ``guppy``: a folder to also write the traces into in
    GuPPy's CSV convention (:func:`fluorodn.formats.guppy.write_unmixed`).
    """
    from fluorodn import formats
    from fluorodn import io as fio

    src = Path(path)
    dest = Path(output) if output is not None else src.with_name(src.stem + "_unmixed.csv")
    if dest.suffix.lower() not in OUTPUT_FORMATS:
        raise UnmixError(f"output {dest} must end in .csv or .parquet (or .nwb for NWB)")
    if dest.suffix.lower() == ".parquet":
        _need_pyarrow(dest)
    if dest.suffix.lower() == ".nwb":
        from importlib.util import find_spec

        from fluorodn.formats.nwb import MISSING

        if find_spec("pynwb") is None or find_spec("ndx_fiber_photometry") is None:
            raise UnmixError(MISSING)
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass --overwrite to replace it")
    arr = times = None
    meta = recording_metadata(src)
    if formats.handles(src):  # spectrometer files carry their wavelengths and timestamps
        arr, file_wl, times = formats.load(src, key=key, rate=rate)
        meta = {} if file_wl is None else {"wavelength_nm": file_wl}
    if wavelengths is None:
        wavelengths = meta.get("wavelength_nm")
        if wavelengths is None:
            raise UnmixError(
                f"{src} does not store its wavelengths; give them with --wavelengths FIRST:LAST or a one-column CSV"
            )
        if isinstance(wavelengths, list) and len(wavelengths) == 2:
            wavelengths = f"{float(wavelengths[0])!r}:{float(wavelengths[1])!r}"
    if rate is None and isinstance(meta.get("sampling_hz"), (int, float)):
        rate = float(meta["sampling_hz"])
    if arr is None:
        with contextlib.closing(fio.open_recording(src, key=key)) as rec:
            if rec.n_pages != 1:
                raise UnmixError(
                    f"{src} holds {rec.n_pages} pages of {rec.page_shape[0]} x {rec.page_shape[1]}; "
                    "unmixing takes one (time, wavelength) recording per file"
                )
            arr = np.array(next(iter(rec.pages())))
    result = unmix(arr, wavelengths, sensor, denoise, rate, refine, dark=dark, progress=progress)
    if times is not None:
        result = dataclasses.replace(result, time_s=times)
    if guppy is not None and result.time_s is None:
        raise UnmixError(f"GuPPy files need times: {src} stores no rate or timestamps; give --rate HZ")
    saved = result.save(dest, overwrite=overwrite, source=src)
    if guppy is not None:
        from fluorodn.formats.guppy import write_unmixed

        write_unmixed(result, guppy, overwrite=overwrite)
    return result, saved
