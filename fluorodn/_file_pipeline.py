"""The per-file pipeline: read -> denoise -> write one recording file, overlapped, with NaN filling.

:func:`denoise_file` reads pages ahead of the network (a background thread) and writes each
one as it is denoised, so memory stays bounded by a few pages whatever the file's length; the
output is written atomically (:func:`fluorodn.io.write_denoised`) and discarded if the input
changes while it is read.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fluorodn.errors import FileFormatError, InputError, OutputError

__all__ = [
    "NAN_POLICIES",
    "SPIKE_POLICIES",
    "FileResult",
    "FileSettings",
    "denoise_file",
    "despike",
    "fill_nonfinite",
    "make_folder",
    "provenance",
    "provenance_record",
]

#: What :func:`denoise_file` does with NaN and infinite values: refuse the file (the
#: Denoiser's error), or fill them for the network and put them back in the output.
NAN_POLICIES = ("refuse", "fill")
#: What :func:`denoise_file` does with isolated spikes (cosmic rays, detector glitches): denoise
#: the page as it is (the spectral path's checks name them), or replace them first (:func:`despike`).
SPIKE_POLICIES = ("keep", "fill")


@dataclass(frozen=True)
class FileSettings:
    """How :func:`denoise_file` reads and writes a file."""

    dtype: str = "float32"
    """Output type: ``"float32"``, or ``"same"`` as the input (integers rounded and clipped)."""
    key: str | None = None
    """Variable of a .mat file to denoise; None: its only 2D/3D numeric variable."""
    suffix: str = "_denoised"
    """Added to the variable name of a .mat output."""
    overwrite: bool = False
    """Replace an existing output file."""
    nan: str = "refuse"
    """``"refuse"`` NaN/inf values, or ``"fill"`` them (:func:`fill_nonfinite`) and restore them after."""
    spikes: str = "keep"
    """``"keep"`` isolated spikes as they are, or ``"fill"``: replace them before denoising (:func:`despike`)."""
    device: str = "auto"
    """The device asked for, recorded in the output's provenance."""
    excitations: int | None = None
    """Interleaved excitations of a spectrometer file (each denoised alone); None: declared by the file or detected."""
    to: str | None = None
    """Write the output as ``"npy"``, ``"tif"`` or ``"h5"`` instead of the input's format."""
    rate: float | None = None
    """Samples per second of recordings whose file states none (a spectrometer file's timestamps
    win): a recording sampled under :data:`fluorodn.spectral.LOW_RATE_HZ` that the spectral path
    denoises warns."""

    def __post_init__(self) -> None:
        from fluorodn.denoiser import checked_bool, checked_rate
        from fluorodn.errors import InputError

        if self.nan not in NAN_POLICIES:
            raise InputError(f"nan must be one of {', '.join(NAN_POLICIES)}; got {self.nan!r}")
        if self.spikes not in SPIKE_POLICIES:
            raise InputError(f"spikes must be one of {', '.join(SPIKE_POLICIES)}; got {self.spikes!r}")
        if self.dtype not in ("float32", "same"):
            raise InputError(f"dtype must be 'float32' or 'same'; got {self.dtype!r}")
        object.__setattr__(self, "overwrite", checked_bool("overwrite", self.overwrite))
        checked_rate(self.rate)  # InputError for a rate that is not a positive number


@dataclass
class FileResult:
    """What :func:`denoise_file` did with one file."""

    source: Path
    output: Path
    frames: int
    """2D pages denoised."""
    pixels: int
    seconds: float
    filled: int = 0
    """NaN/inf values filled for the network and restored in the output (``nan="fill"``)."""
    despiked: int = 0
    """Isolated spikes replaced before denoising (``spikes="fill"``)."""
    shape: tuple[int, ...] = field(default_factory=tuple)
    provenance: dict[str, Any] = field(default_factory=dict)
    """The record written into the output (:func:`provenance`)."""

    @property
    def model(self) -> str:
        """The model that ran (the image model a spectral model hands frames to)."""
        return str(self.provenance.get("model", ""))


def fill_nonfinite(page: Any) -> tuple[Any, tuple[Any, Any] | None]:
    """``page`` (H, W) with NaN/inf replaced by linear interpolation along axis 0, and where they were.

    Axis 0 is time for a (time, wavelength) recording: a missing sample is bridged from
    its neighbours in time, bin by bin; at either end the nearest finite value is
    repeated. A column without any finite value takes the median of the page's finite
    values. Returns ``(filled, None)`` for a page without NaN/inf (``filled`` is
    ``page`` itself), else ``(filled, (flat indices, original values))``. FileFormatError if no
    value of the page is finite; InputError for values that are not real numbers, and for a masked
    array that masks any value (its data there are no measurement, and no NaN: make them NaN first).
    """
    import numpy as np

    from fluorodn._engine import masked_refusal

    if (masked := masked_refusal(page)) is not None:
        raise InputError(masked)
    arr = np.asarray(page)
    if arr.ndim != 2:
        raise InputError(
            f"fill_nonfinite takes one 2D page (time x wavelength, or a frame), got shape {arr.shape}; call it on "
            "each page of a stack"
        )
    if arr.dtype.kind not in "iuf":
        raise InputError(f"expected an array of real numbers (ints or floats), got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        return arr, None
    bad = ~np.isfinite(arr)
    if not bad.any():
        return arr, None
    if bad.all():
        raise FileFormatError("a page holds no finite value (all NaN or infinite); nothing can be filled from it")
    out = arr.astype(np.float64)
    rows = np.arange(arr.shape[0])
    fallback = float(np.median(arr[~bad]))
    for j in np.flatnonzero(bad.any(axis=0)):
        good = ~bad[:, j]
        col = out[:, j]
        col[~good] = np.interp(rows[~good], rows[good], col[good]) if good.any() else fallback
    where = np.flatnonzero(bad.ravel())
    return out.astype(arr.dtype), (where, arr.ravel()[where].copy())


def despike(page: Any) -> tuple[Any, Any]:
    """``page`` (T, W), a copy with its isolated spikes replaced, and where they were (a boolean
    mask): one or two neighbouring values of a sample far beyond their bin's noise, their neighbours
    in time and the rest of their sample (:func:`fluorodn.spectral.isolated_spikes`: cosmic rays,
    detector glitches), each replaced by the mean of its two neighbours in time. A change of the
    signal, however fast, departs across its spectrum and is left as it is. The input is not
    modified; a page without spikes comes back as an unchanged copy."""
    import numpy as np

    from fluorodn import spectral
    from fluorodn._engine import check_input

    arr = check_input(page, ndims=(2,))
    mask = spectral.isolated_spikes(arr)
    out = np.array(arr, copy=True)
    t, w = np.nonzero(mask)
    if len(t):
        before, after = arr[t - 1, w].astype(np.float64), arr[t + 1, w].astype(np.float64)
        # a neighbour that is a spike too (one of the other sign) is left out
        before = np.where(mask[t - 1, w], after, before)
        after = np.where(mask[t + 1, w], before, after)
        mean = (before + after) / 2
        out[t, w] = mean if arr.dtype.kind == "f" else np.round(mean)
    return out, mask


def _spectral_path(denoiser: Any, first: Any, known: bool) -> bool:
    """Whether ``denoiser`` takes pages like ``first`` down the spectral path (time x wavelength
    recordings; ``known``: the file says they are)."""
    import numpy as np

    if getattr(denoiser, "kind", None) != "spectral":
        return False
    page = np.asarray(first)
    return bool(page.ndim == 2 and denoiser._path_for(page.shape, known, page) == "spectral")


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_rate(rec: Any, given: float | None, source: Path) -> float | None:
    """The sampling rate (Hz) of recording ``rec``: the one its file states (a spectrometer file's
    timestamps, a TIFF's ``sampling_hz``), else ``given``. A ``given`` rate that differs from the
    file's by more than :data:`fluorodn.formats.timing.RATE_TOLERANCE` is refused (InputError)."""
    from fluorodn.formats.timing import given_rate_refusal

    stated = getattr(rec, "rate_hz", None)
    if stated is None:
        return given
    if refused := given_rate_refusal(given, float(stated), str(source)):
        raise InputError(refused)
    return float(stated)


def denoise_file(
    denoiser: Any,
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    settings: FileSettings | None = None,
    *,
    progress: Any = None,
    label: str | None = None,
) -> FileResult:
    """Denoise one recording file into ``dest`` (same format, shape and metadata), atomically.

    ``dest`` must be named for the format written (the input's, or ``settings.to``'s):
    FileFormatError otherwise, before anything is read.

    Pages are read ahead of the network (a background thread) and denoised and written in
    the calling thread, so memory stays bounded by a few pages whatever the file's length, and
    a KeyboardInterrupt stops the run within one network call. The output appears
    under its name only when complete; on any error or interruption nothing is left. If
    ``source`` changes while it is read (a writer still at work), the output is discarded
    and FileFormatError raised.

    Parameters
    ----------
    denoiser : a :class:`fluorodn.Denoiser`.
    settings : :class:`FileSettings` (output dtype, .mat key, NaN policy, ...).
    progress : a ``fluorodn._progress.LazyProgress`` to show a bar in, or None.
    label : the bar's text (default: the file name).
    """
    import numpy as np

    from fluorodn import io as fio
    from fluorodn._pipeline import prefetch
    from fluorodn.files import check_name_length

    settings = FileSettings() if settings is None else settings
    if not isinstance(settings, FileSettings):
        raise InputError(f"settings must be a FileSettings (or None), not {type(settings).__name__}")
    source, dest = Path(source), check_name_length(dest)
    t0 = time.perf_counter()
    fmt = fio.format_of(source)
    fio.check_output_format(source, dest, settings.to)
    before = _signature(source)
    key = settings.key if fmt in ("mat", "hdf5") else None
    excitations = settings.excitations if fmt in fio.SPECTRAL_FORMATS else None
    holes: deque[tuple[Any, Any] | None] = deque()
    filled = despiked = 0

    def fill(pages: Iterable[Any]) -> Iterator[Any]:
        nonlocal filled
        for k, page in enumerate(pages):
            try:
                page, where = fill_nonfinite(page)
            except FileFormatError as err:
                raise FileFormatError(f"{source}: page index {k}: {err}") from None
            holes.append(where)
            filled += 0 if where is None else len(where[0])
            yield page

    def replace_spikes(pages: Iterable[Any]) -> Iterator[Any]:
        nonlocal despiked
        for k, page in enumerate(pages):
            try:
                page, mask = despike(page)
            except InputError as err:  # as the denoiser names a page it refuses
                raise InputError(f"page index {k}: {err}") from None
            despiked += int(mask.sum())
            yield page

    def restore(pages: Iterable[Any]) -> Iterator[Any]:
        for page in pages:
            where = holes.popleft()
            if where is not None:
                page.ravel()[where[0]] = where[1]
            yield page

    def unchanged() -> None:
        if _signature(source) != before:
            raise FileFormatError(
                f"{source} changed while it was read (is it still being written?); its output was discarded: "
                "denoise it again once it is complete"
            )

    from fluorodn._engine import colour_layout

    with contextlib.closing(fio.open_recording(source, key=key, excitations=excitations)) as rec:
        if (colour := colour_layout(tuple(rec.shape))) is not None:
            raise InputError(f"{source}: {colour}")
        out_dtype = fio.output_dtype(rec.dtype, settings.dtype)
        n_px = rec.n_pages * rec.page_shape[0] * rec.page_shape[1]
        task = progress.add(label or source.name, n_px, rec.n_pages) if progress is not None else None
        raw: Iterator[Any] = (np.array(p) for p in rec.pages())  # a copy: pages may be views of a read buffer
        if settings.nan == "fill":
            raw = fill(raw)
        # the first page as the denoiser gets it, which says the path of a short recording
        first = next(raw, None)
        # a file that says which axis is time (a spectrometer's, with its axes, or a TIFF naming its
        # bins' wavelengths) holds time x wavelength recordings whatever their look
        known = bool(getattr(rec, "axes_known", False))
        pending = raw if first is None else itertools.chain([first], raw)
        if first is not None and (coarse := integer_output_warning(first, out_dtype)):
            from fluorodn.errors import OutOfDomainWarning

            warnings.warn(OutOfDomainWarning(coarse), stacklevel=2)
        if settings.spikes == "fill" and first is not None and _spectral_path(denoiser, first, known):
            pending = replace_spikes(pending)  # frames (the image path) have no time axis to judge spikes on
        read = prefetch(pending)
        advance = None if task is None else (lambda n, t=task: progress.advance(t, n))
        rate = file_rate(rec, settings.rate, source)
        _warn_channels_last(denoiser, rec, known)
        earlier = fluorodn_record(source)  # kept, denoised again or not: the chain of runs stays on record
        if earlier is not None and _denoised_in(earlier, source, getattr(rec, "key", None) if fmt == "mat" else key):
            from fluorodn.errors import OutOfDomainWarning

            warnings.warn(OutOfDomainWarning(denoised_already_message(earlier)), stacklevel=2)
        pages: Iterable[Any] = denoiser.stream(read, progress=advance, recording=known, rate=rate)
        if settings.nan == "fill":
            pages = restore(pages)
        # denoised in this thread as the writer asks for pages: Ctrl-C (and SIGTERM, which the
        # command turns into it) stops the denoising of a long recording within a network call,
        # where a background thread would hold the clean-up until its whole recording was done
        counted = _count_frames(fio.cast_pages(pages, out_dtype), progress, task)
        if dest.parent != source.parent:
            make_folder(dest.parent)
        key = getattr(rec, "key", None)
        prov = provenance(denoiser, source, out_dtype, key, settings, rec.page_shape, known, first)
        if earlier is not None:
            prov["source_provenance"] = earlier
        var = f"{rec.key}{settings.suffix}" if isinstance(rec, fio.MatRecording) else None
        if var is not None and settings.to is None:  # which variable of the output is the denoised one
            prov["variable"] = var
        fio.write_denoised(
            rec,
            dest,
            counted,
            dtype=out_dtype,
            provenance=prov,
            overwrite=settings.overwrite,
            var_name=var,
            before_publish=unchanged,
            to=settings.to,
        )
        seconds = time.perf_counter() - t0
        return FileResult(source, dest, rec.n_pages, n_px, seconds, filled, despiked, tuple(rec.shape), prov)


#: An integer output (``--dtype same``) is told where the first page's noise is under this many of
#: its integer steps: the denoised values then lie between the integers, and rounding them moves
#: each by up to half a step, which on dim photon counts is a bias (a background of 0.63 counts
#: written as 1).
INTEGER_NOISE = 2.0


def integer_output_warning(page: Any, dtype: Any) -> str | None:
    """The warning for denoised values written as integers of ``dtype`` where the input ``page`` (its
    first page) is so dim that its noise is under :data:`INTEGER_NOISE` integer steps; None
    otherwise (a float output, or a noise of several steps). The noise: the standard deviation of
    the differences between neighbouring values over sqrt 2, the smaller of along its rows and down
    its columns (structure only raises it; photon counts of a few per pixel, whose differences are
    mostly 0, have no MAD to read)."""
    import numpy as np

    if np.dtype(dtype).kind not in "iu" or page.ndim != 2 or min(page.shape) < 2:
        return None
    sub = np.asarray(page[:: max(1, page.shape[0] // 2048)], np.float64)
    noise = min(float(np.std(np.diff(sub, axis=a))) for a in (0, 1)) / np.sqrt(2.0)
    if not 0 < noise < INTEGER_NOISE:
        return None
    return (
        f"its noise is {noise:.2g} of an integer step, and the output's type ({np.dtype(dtype).name}: --dtype same) "
        "rounds the denoised values: rounding moves each by up to half a step, a bias on dim counts (0.6 written "
        "as 1); write float32 (leave --dtype out)"
    )


def _warn_channels_last(denoiser: Any, rec: Any, known: bool) -> None:
    """:class:`OutOfDomainWarning` for a stack read page by page over its last two axes that is
    likely spectral recordings with their channels last (:func:`fluorodn.denoiser.channels_last_warning`),
    where the default, choosing by itself, hands its pages to the image model."""
    from fluorodn.denoiser import channels_last_warning
    from fluorodn.errors import OutOfDomainWarning

    shape = tuple(getattr(rec, "shape", ()))
    if known or len(shape) != 3 or shape[-2:] != tuple(rec.page_shape):
        return
    if getattr(denoiser, "declared_kind", None) != "auto" or denoiser._path_for(shape[-2:]) != "delegate":
        return
    if hint := channels_last_warning(shape):
        warnings.warn(OutOfDomainWarning(hint), stacklevel=3)


def fluorodn_record(source: Path) -> dict[str, Any] | None:
    """The record of the fluorodn run that wrote ``source`` (:func:`fluorodn.report.stored_provenance`)
    where it names a model; None for a file fluorodn did not write."""
    from fluorodn.report import stored_provenance

    record = stored_provenance(source)
    return record if isinstance(record, dict) and record.get("model") else None


def _runs(record: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """``record`` and the records of the earlier runs it keeps (``source_provenance``), newest first."""
    while isinstance(record, dict):
        yield record
        record = record.get("source_provenance")


def denoised_already(source: Path, key: str | None = None) -> dict[str, Any] | None:
    """The record of the fluorodn run that wrote ``source`` (:func:`fluorodn_record`) where one of its
    runs denoised what ``key`` picks of it; None otherwise. A .mat output holds its input's variables
    beside the denoised one (each run's ``variable``; of an older output, its ``key`` with the
    default suffix); an HDF5 output holds its denoised datasets where its input's were (each run's
    ``key``, or all of them)."""
    record = fluorodn_record(source)
    return record if record is not None and _denoised_in(record, source, key) else None


def _denoised_in(record: dict[str, Any], source: Path, key: str | None) -> bool:
    """Whether one of the runs of ``record`` (the file ``source``'s) denoised what ``key`` picks of it
    (:func:`denoised_already`)."""
    picked = None if key is None else key.strip("/")
    suffix = source.suffix.lower()
    if picked is None or suffix not in (".mat", ".h5", ".hdf5"):
        return True
    denoised: set[str | None] = set()
    for run in _runs(record):
        given = (run.get("settings") or {}).get("key")
        given = given.strip("/") if isinstance(given, str) else None
        if suffix == ".mat":
            named = run.get("variable")
            denoised.add(named if isinstance(named, str) else None if given is None else f"{given}_denoised")
        else:
            denoised.add(given)
    return picked in denoised or (suffix != ".mat" and None in denoised)


def denoised_already_message(
    record: dict[str, Any], then: str = "denoising it again removes more than noise; denoise the raw recording instead"
) -> str:
    """The sentence saying that a file is an output of fluorodn (its ``record``), and ``then`` what follows."""
    when = f", {record['created']}" if record.get("created") else ""
    return f"the file was denoised by fluorodn already (model {record['model']}{when}): {then}"


def _count_frames(pages: Iterable[Any], progress: Any, task: Any) -> Iterator[Any]:
    for k, page in enumerate(pages, 1):
        if task is not None:
            progress.frames(task, k)
        yield page


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents); OutputError with a sentence if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(folder_message(folder, err.strerror or str(err))) from err


def folder_message(folder: Path, reason: str) -> str:
    """Why an output ``folder`` cannot be created: a file where it (or one above it) would be is
    named (not "File exists"), else ``reason``."""
    blocking = next((p for p in (folder, *folder.parents) if os.path.isfile(p)), None)  # never raises
    why = f"{blocking} is a file" if blocking is not None else reason
    return f"cannot create the output folder {folder} ({why}); choose another folder with output=..."


def folder_error(folder: Path) -> OutputError | None:
    """The OutputError of an output ``folder`` that a file (it, or one above it) stands in the way
    of; None where none does."""
    if not any(os.path.isfile(p) for p in (folder, *folder.parents)):
        return None
    return OutputError(folder_message(folder, ""))


def provenance(
    denoiser: Any,
    source: Path,
    out_dtype: Any,
    key: str | None,
    settings: FileSettings,
    page_shape: tuple[int, ...] | None = None,
    recording: bool = False,
    first: Any = None,
) -> dict[str, Any]:
    """The record written into an output file: :func:`provenance_record` with the file's settings,
    of the model that ran on pages of ``page_shape`` (``recording``: known to be time x wavelength;
    ``first``: the first page, which tells a short recording from a frame): the image model a
    spectral model hands frames to, with ``planned_by`` naming the model that was asked for."""
    ran = denoiser
    if page_shape is not None and getattr(denoiser, "kind", None) == "spectral":
        ran = denoiser._runs(tuple(page_shape[-2:]), recording, first)
    recorded: dict[str, Any] = {"device": settings.device, "dtype": str(out_dtype)}
    if key is not None:
        recorded["key"] = key
    if getattr(denoiser, "declared_kind", "auto") != "auto":
        recorded["kind"] = denoiser.declared_kind
    if settings.nan != "refuse":
        recorded["nan"] = settings.nan
    if settings.spikes != "keep":
        recorded["spikes"] = settings.spikes
    record = provenance_record(ran, source.name, recorded)
    if ran is not denoiser:
        record["planned_by"] = denoiser.name
    return record


def provenance_record(denoiser: Any, source: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The one provenance schema of fluorodn's outputs (files and zarr stores): fluorodn
    version, the model that ran (name, sha256, version, noise scale, normalization), the
    source, ``settings`` with the provider and precision (and for a spectral model its
    ``keep_fixed_pattern``, ``spectral_only``, ``strength`` and ``keep_onsets`` settings, and
    ``self_ensemble`` and ``keep_spots=False`` where they were asked for) added, the time, and for a spectral model the
    spectral components it projects onto (``components``)."""
    from fluorodn import __version__

    meta = denoiser.metadata or {}
    if getattr(denoiser, "kind", None) == "spectral":  # the setting; images it hands on have no pattern to keep
        from fluorodn.denoiser import SPECTRAL_DEFAULTS

        opts = denoiser.options
        spectral = {name: type(default)(getattr(opts, name, default)) for name, default in SPECTRAL_DEFAULTS.items()}
        settings = {**spectral, **settings}
    if getattr(getattr(denoiser, "options", None), "self_ensemble", False):  # asked for (it runs on images)
        settings = {"self_ensemble": True, **settings}
    if not getattr(getattr(denoiser, "options", None), "keep_spots", True):  # asked for (it runs on images)
        settings = {"keep_spots": False, **settings}
    record = {
        "fluorodn": __version__,
        "model": denoiser.name,
        "model_sha256": denoiser.sha256,
        "model_version": meta.get("version"),
        "noise_scale": meta.get("noise_scale"),
        "normalization": meta.get("normalization"),
        "source": source,
        "settings": {"provider": denoiser.provider, "precision": getattr(denoiser, "precision", "fp32"), **settings},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if getattr(denoiser, "kind", None) == "spectral":  # how many spectral components its network denoises
        record["components"] = int(denoiser.channels)
    return record
