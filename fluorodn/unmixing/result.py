"""The result of an unmixing: per-sample traces, and the table they make as CSV, Parquet or NWB."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.unmixing.inputs import PathLike, UnmixError

__all__ = ["COLUMNS", "OUTPUT_FORMATS", "UnmixResult", "need_pyarrow"]

#: Columns of the table an :class:`UnmixResult` writes, in order.
COLUMNS = ("sample", "time_s", "sensor", "hbo2", "hb", "offset", "residual_rms", "gain")
#: Each column's unit, as a Parquet output's fields state it.
UNITS = {
    "sample": "index from 0",
    "time_s": "s",
    "sensor": "the sensor spectrum's units: dF/F = sensor x S(wavelength)",
    "hbo2": "uM cm (change x effective path length)",
    "hb": "uM cm (change x effective path length)",
    "offset": "counts",
    "residual_rms": "relative (RMS over bins of (F - model) / model)",
    "gain": "relative, 1 = typical",
}
#: Output formats of :meth:`UnmixResult.save`, by extension.
OUTPUT_FORMATS = (".csv", ".parquet", ".nwb")


@dataclass(frozen=True, eq=False)
class UnmixResult:
    """Per-sample traces of an unmixed recording; the arrays are (T,) float64 unless noted.

    The model (see :mod:`fluorodn.unmixing`): ``log(F - dark - offset) = log(emission) +
    log(gain) + sensor * response - hbo2 * hbo2_spectrum - hb * hb_spectrum``. Samples taken
    with the light off are NaN in every trace (``dark_samples`` counts them); the per-bin arrays
    are of the lit samples.
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
    dark_samples: int = 0
    """How many samples were taken with the light off (:func:`fluorodn.spectral.lit_mask`): they
    carry no measurement, so their values are NaN in every trace (``np.isnan(sensor)`` marks them)."""
    timing: Any = None
    """What the file's own timestamps say (:class:`fluorodn.formats.timing.Timing`: rate, jitter,
    dropped frames), where ``time_s`` came from them (:func:`fluorodn.unmixing.unmix_file`); else None."""
    time_origin_s: float | None = None
    """The first sample's time on the file's own clock, in seconds, where the file states one (an
    HDF5 ``Time`` axis, or a TIFF converted from such a file that keeps it): ``time_s`` counts from
    that sample, so events timed on the file's clock align with ``time_s + time_origin_s`` (the
    clock GuPPy's files and, where it is later than 0, the NWB file's times are on). None where the
    file states none."""
    start: datetime | None = None
    """When the first sample was taken, where the file states it (an OceanView export's ``Date:``,
    an HDF5 time axis in CF's units since a date, a TIFF converted from such a file; naive where it
    names no offset): :func:`fluorodn.unmixing.unmix_file` sets it, and the NWB file's session
    start follows it. None otherwise."""
    dark: np.ndarray | None = None
    """(W,) the dark level subtracted first, counts; None where none was given."""
    denoising: dict[str, Any] | None = None
    """What denoised the recording first: fluorodn's provenance record of the model that ran
    (``fluorodn`` version, ``model``, ``model_sha256``, ``settings``, ...); None where it was not
    denoised."""
    input_denoising: dict[str, Any] | None = None
    """Where the file unmixed without denoising is an output of fluorodn's denoising (a denoised
    file, or its conversion): the record of that run as the file holds it (model, sha256, settings,
    time; :func:`fluorodn.unmixing.unmix_file` sets it); None otherwise."""
    filled_values: int = 0
    """How many values were not finite (NaN, infinite) and were filled by interpolation over time
    before unmixing (``nan="fill"``); the traces of their samples rest on the interpolated values."""
    sensor_kept: float | None = None
    """Where the recording was denoised first: the share of the raw recording's slow sensor changes
    that the sensor's trace keeps (:func:`fluorodn.unmixing.fit.sensor_kept`; about 1 where only
    noise was removed, under :data:`fluorodn.unmixing.fit.SENSOR_KEPT` an UnmixWarning says the
    denoising removed most of them); None where it was not denoised or cannot be judged."""

    def provenance(self) -> dict[str, Any]:
        """fluorodn's record of this unmixing, as an NWB file's notes hold it (JSON-ready): fluorodn's
        version, what denoised the recording first (:attr:`denoising`, or None; :attr:`input_denoising`
        where the file unmixed was denoised by fluorodn before), whether the fit was
        refined, the samples taken with the light off, the values filled (``nan="fill"``), the share
        of the sensor's slow changes the
        denoised trace keeps (:attr:`sensor_kept`), the dark level subtracted (counts: one
        number, one per bin, or None), the sensor's response on the recording's wavelengths
        (``sensor_response``: ``wavelength_nm`` and ``dff``, the S(l) that ``sensor`` is in units
        of) and the first sample's time on the file's own clock (:attr:`time_origin_s`)."""
        from fluorodn import __version__

        dark: Any = None
        if self.dark is not None:
            levels = [float(v) for v in np.asarray(self.dark, dtype=np.float64)]
            dark = levels[0] if len(set(levels)) == 1 else levels
        return {
            "fluorodn": __version__,
            "denoised_with": self.denoised_with,
            "denoising": self.denoising,
            "input_denoising": self.input_denoising,
            "refined": self.refined,
            "dark_samples": self.dark_samples,
            "filled_values": self.filled_values,
            "sensor_kept": self.sensor_kept,
            "dark_level_counts": dark,
            "sensor_response": {
                "wavelength_nm": [float(w) for w in self.wavelengths],
                "dff": [float(v) for v in self.response],
            },
            "time_origin_s": self.time_origin_s,
        }

    def columns(self) -> dict[str, np.ndarray]:
        """The output table as {name: (T,) array} in :data:`COLUMNS` order (time_s NaN if unknown; the
        traces NaN on samples taken with the light off)."""
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

    def save(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        source: PathLike | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the table to ``path``: CSV, Parquet for a ``.parquet`` name (needs pyarrow), or NWB
        for a ``.nwb`` name (:func:`fluorodn.formats.nwb.write_unmixed`; needs the ``nwb`` extra).

        Written atomically (:func:`fluorodn.io.atomic_output`); an existing file is refused
        unless ``overwrite``, and ``source`` (the input) is never replaced. A file that cannot be
        written (a full disk, a read-only folder) raises OutputError with one sentence, and
        nothing is left under its name. ``before_publish`` is called once the table is complete,
        before it gets its name: an exception from it leaves ``path`` as it was.
        """
        path = Path(path)
        if path.suffix.lower() == ".parquet":
            return self.to_parquet(path, overwrite=overwrite, source=source, before_publish=before_publish)
        if path.suffix.lower() == ".nwb":
            return self.to_nwb(path, overwrite=overwrite, source=source, before_publish=before_publish)
        return self.to_csv(path, overwrite=overwrite, source=source, before_publish=before_publish)

    def to_nwb(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        source: PathLike | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the traces as NWB (ndx-fiber-photometry), start time and timestamps from ``source``,
        :meth:`provenance` as the file's notes."""
        from fluorodn.formats.nwb import write_unmixed
        from fluorodn.io import atomic_output

        if source is None:
            raise UnmixError("an NWB output needs the recording it comes from (source=) for its start time")
        path = Path(path)
        with (
            _write_errors(path),
            atomic_output(path, overwrite=overwrite, source=Path(source), before_publish=before_publish) as tmp,
        ):
            write_unmixed(self, tmp, source, provenance=self.provenance())
        return path

    def to_csv(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        source: PathLike | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the table as CSV with a header line; an unknown time_s, and the traces of samples taken
        with the light off, are left empty. Returns the path."""
        from fluorodn.io import atomic_output

        path = Path(path)
        cols = self.columns()
        values = np.column_stack([cols[name] for name in COLUMNS[1:]])
        with (
            _write_errors(path),
            atomic_output(path, overwrite=overwrite, source=_opt_path(source), before_publish=before_publish) as tmp,
            open(tmp, "w", encoding="utf-8", newline="\n") as fh,
        ):
            fh.write(",".join(COLUMNS) + "\n")
            for k, row in enumerate(values.tolist()):
                fh.write(f"{k}," + ",".join("" if v != v else f"{v:.9g}" for v in row) + "\n")
        return path

    def to_parquet(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        source: PathLike | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the table as Parquet (pyarrow); an unknown time_s, and the traces of samples taken with
        the light off, are null. Each field states its unit (field metadata ``unit``, :data:`UNITS`),
        and the schema :meth:`provenance` (metadata ``fluorodn``, JSON). Returns the path."""
        from fluorodn.io import atomic_output

        need_pyarrow(path)
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
        path = Path(path)
        cols = self.columns()
        arrays = [pa.array(v, from_pandas=True) for v in cols.values()]  # from_pandas: NaN -> null
        fields = [pa.field(name, a.type, metadata={"unit": UNITS[name]}) for name, a in zip(cols, arrays, strict=True)]
        schema = pa.schema(fields, metadata={"fluorodn": json.dumps(self.provenance())})
        table = pa.Table.from_arrays(arrays, schema=schema)
        with (
            _write_errors(path),
            atomic_output(path, overwrite=overwrite, source=_opt_path(source), before_publish=before_publish) as tmp,
        ):
            pq.write_table(table, str(tmp))
        return path

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame indexed by sample (needs pandas)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as err:
            raise ImportError("UnmixResult.to_frame needs pandas; pip install pandas, or use columns()") from err
        return pd.DataFrame(self.columns()).set_index("sample")


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """An OSError while ``path`` is written raised as OutputError, in one sentence ("the disk is
    full" where it is); fluorodn's own errors pass as they are."""
    from fluorodn._atomic import write_error
    from fluorodn.errors import FluorodnError

    try:
        yield
    except FluorodnError:
        raise
    except OSError as err:
        raise write_error(path, err) from err


def _opt_path(p: PathLike | None) -> Path | None:
    return None if p is None else Path(p)


def need_pyarrow(path: PathLike) -> None:
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        raise UnmixError(
            f"writing {path} needs pyarrow, which is not installed; pip install pyarrow, or write a .csv"
        ) from None
