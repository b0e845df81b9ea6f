"""The Denoiser: validate -> normalize -> tile -> session -> stitch -> denormalize.

One :class:`Denoiser` owns one ``onnxruntime.InferenceSession``. The model file, its
precision and the providers are decided once, at construction, by
:func:`fluorodn.registry.resolve`, and the session is built by :mod:`fluorodn.session`;
CPU is always the last provider, and the provider that actually runs is logged and kept
in ``Denoiser.provider``. :meth:`Denoiser.run` keeps no state between calls (all buffers
are local), so one instance can serve many threads. The image path's tiling engine is
:mod:`fluorodn._engine`, the spectral path's projection :mod:`fluorodn.spectral`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fluorodn import noise_change, spectral
from fluorodn._engine import (
    Progress,
    check_input,
    check_scale,
    clipping_warning,
    denoise_pages,
    removal_check,
    removal_warning,
    spots_said,
)
from fluorodn.errors import (
    EventDetectionWarning,
    InputError,
    LightOffNotice,
    ModelChoiceWarning,
    ModelError,
    NoiseChangeNotice,
    OutOfDomainWarning,
)
from fluorodn.normalize import global_scale
from fluorodn.precision import BF16_UNAVAILABLE as BF16_UNAVAILABLE
from fluorodn.precision import PRECISIONS, check_precision
from fluorodn.registry import CUDA, IMAGE_MODEL, resolve
from fluorodn.session import (
    available_providers,
    embedded_metadata,
    io_names,
    open_session,
    physical_cores,
    thread_limit,
)
from fluorodn.tiling import TilePlan, plan_tiles

__all__ = ["DEVICES", "KINDS", "PRECISIONS", "Denoiser", "DenoiserOptions", "denoise", "physical_cores"]

log = logging.getLogger("fluorodn")

#: Accepted values of ``device``.
DEVICES = ("auto", "cpu", "cuda")
#: Accepted values of ``kind``: what the input is. ``"auto"`` detects it per input
#: (:func:`fluorodn.spectral.looks_spectral`).
KINDS = ("auto", "spectral", "image")
#: Default pixel budget per network call on the CPU: peak RSS about 380 MiB on a 2048 x 2048
#: image (248 MiB at 2**18), and windows large enough that the halo costs only 8% there
#: (14% at 2**18); a 2048 x 152 page runs in one window.
CPU_TILE_PIXELS = 1 << 19
#: Default pixel budget per network call on CUDA.
CUDA_TILE_PIXELS = 1 << 22


def choice_warning(image_model: str, page: tuple[int, ...], recording: bool = False) -> str | None:
    """The :class:`ModelChoiceWarning` message for pages of shape ``page`` denoised by the image
    model ``image_model``, or None if the pages do not look like spectral recordings. On spectral
    recordings the image models lower event detection below the raw recording's; the spectral
    model does not. ``recording``: the pages are known to be recordings (no frames to declare)."""
    if len(page) != 2 or not spectral.looks_spectral(tuple(page)):
        return None
    h, w = page
    frames = "" if recording else ", or pass kind 'image' if these are frames"
    return (
        f"model {image_model!r} is an image model, which on spectral recordings such as this {h} x {w} one "
        f"lowers event detection below the raw recording's (the spectral model does not); run the default model{frames}"
    )


def delegated_warning(page: np.ndarray, shape: tuple[int, ...] | None = None, stacked: bool = False) -> str | None:
    """The :class:`OutOfDomainWarning` message for a 2D page the default hands to the image model
    that is likely a recording: one whose shape looks like a spectral recording given as (wavelength,
    time) and whose content does not say otherwise (:func:`fluorodn.spectral.reads_as_given`: a
    short, noisy recording the right way round reads so). Not for a stack of pages (``stacked``).
    None for anything else. ``page`` may be rows of a page of ``shape``. (A short recording the right
    way round whose rows read as one spectrum is not handed over: :meth:`Denoiser._path_for`.)"""
    t, w = page.shape if shape is None else shape
    if not stacked and spectral.looks_spectral((w, t)) and not spectral.reads_as_given(page):
        return (
            f"a {t} x {w} array looks like a spectral recording given as (wavelength, time); "
            "it is denoised as an image: pass it transposed, or kind 'image' to silence this"
        )
    return None


#: Most values along the last axis of a stack that :func:`channels_last_warning` reads as channels.
CHANNELS_LAST = 4


def channels_last_warning(shape: tuple[int, ...]) -> str | None:
    """The :class:`OutOfDomainWarning` message for a 3D array the default hands to the image model
    as a stack of pages that is likely spectral recordings with their channels last: (T, W, C) with
    at most :data:`CHANNELS_LAST` values along the last axis and (T, W) shaped like a recording
    (:func:`fluorodn.spectral.looks_spectral`). None for anything else."""
    if len(shape) != 3 or shape[2] > CHANNELS_LAST or not spectral.looks_spectral(tuple(shape[:2])):
        return None
    t, w, c = shape
    return (
        f"a {t} x {w} x {c} array looks like spectral recordings with their {c} channels last (time, wavelength, "
        f"channel); it is denoised as {t} images of {w} x {c}: pass it as (channel, time, wavelength), e.g. "
        "numpy.moveaxis(x, -1, 0), or kind 'image' to silence this"
    )


#: Pages with fewer rows or columns than this are no frames the image model knows: its receptive
#: field is 41 x 41 values, and its training frames were far wider.
NARROW = 8


def narrow_warning(page: tuple[int, ...]) -> str | None:
    """The :class:`OutOfDomainWarning` message for pages of shape ``page`` that the image path
    takes although one side has fewer than :data:`NARROW` values (a few traces over time, a single
    row); None for anything else."""
    h, w = (int(n) for n in page[-2:])
    if min(h, w) >= NARROW:
        return None
    what = f"{min(h, w)} trace{'s' if min(h, w) != 1 else ''} of {max(h, w)} value{'s' if max(h, w) != 1 else ''}"
    return (
        f"pages of {h} x {w} values are too narrow for the image model (its field is 41 x 41 values, its "
        f"training frames far wider): read as {what}, nothing in fluorodn models them (spectral recordings need "
        f"{spectral.MIN_BINS} or more bins), and the output may keep their noise or lose their signal; "
        "compare the output with the input"
    )


def bins_warning(w: int) -> str | None:
    """The :class:`OutOfDomainWarning` message for a recording of ``w`` wavelength bins that the
    spectral path takes (declared spectral) although ``w`` lies outside the range of spectral
    recordings (:data:`fluorodn.spectral.MIN_BINS` to :data:`fluorodn.spectral.MAX_BINS`), which
    the default gives to the image model; None for anything else."""
    if spectral.MIN_BINS <= w <= spectral.MAX_BINS:
        return None
    return (
        f"the recording has {w} wavelength bin{'s' if w != 1 else ''}, outside the {spectral.MIN_BINS}-"
        f"{spectral.MAX_BINS} bins of the spectral recordings the spectral model is made for (kind 'auto' gives "
        "such pages to the image model), so the output may lie further from the truth than the input; compare the "
        "output with the input"
    )


def recorded_bins_warning(shape: tuple[int, ...]) -> str | None:
    """The :class:`OutOfDomainWarning` message for pages known to be time x wavelength (``recording``)
    that the default hands to the image model because their bins lie outside
    :data:`fluorodn.spectral.MIN_BINS`-:data:`fluorodn.spectral.MAX_BINS` (fewer than
    :data:`NARROW`: :func:`narrow_warning` says it); None for anything else."""
    w = int(shape[-1])
    if spectral.MIN_BINS <= w <= spectral.MAX_BINS or min(int(shape[-2]), w) < NARROW:
        return None
    return (
        f"the recording has {w} wavelength bins, outside the {spectral.MIN_BINS}-{spectral.MAX_BINS} the spectral "
        "model takes, so the image model denoises it as a frame, knowing nothing of its spectra; compare the output "
        "with the input (kind 'spectral' denoises it as a recording all the same)"
    )


#: The float32 output cannot keep what denoising leaves where its step at the input's typical
#: magnitude passes this share of the noise (its rounding, step / sqrt(12), then adds over 7 % of
#: the noise, beside outputs that keep 3-55 % of it: :data:`fluorodn.report.NOT_DENOISED`).
RESOLUTION_SHARE = 0.25
#: Most rows and columns of the first page :func:`resolution_warning` reads (evenly strided).
RESOLUTION_ROWS, RESOLUTION_COLUMNS = 4096, 256


def resolution_warning(arr: np.ndarray) -> str | None:
    """The warning for an input whose values sit so far from 0, beside their noise, that float32 (the
    output's type) cannot hold what denoising keeps: its step at the first page's typical magnitude
    (the median of its absolute values, so a few bright pixels do not count) over
    :data:`RESOLUTION_SHARE` of that page's noise (each column's from its differences along the
    first axis, the quieter tenth's), as with a large offset; None otherwise. Reads at most
    :data:`RESOLUTION_ROWS` x :data:`RESOLUTION_COLUMNS` values."""
    page = arr if arr.ndim == 2 else arr.reshape(-1, *arr.shape[-2:])[0]
    step_c = max(1, -(-page.shape[1] // RESOLUTION_COLUMNS))
    rows = np.asarray(page[:RESOLUTION_ROWS, ::step_c], np.float64)
    if rows.shape[0] < 2:
        return None
    per_column = np.sqrt(spectral.diff_variance(rows))
    measured = per_column[per_column > 0]
    # the quieter columns' (a spectrum's dim bins are the first to lose what they keep)
    noise = float(np.percentile(measured, 10)) if measured.size else 0.0
    typical = float(np.median(np.abs(rows)))
    step = float(np.spacing(np.float32(typical)))
    if not (noise > 0 and step > RESOLUTION_SHARE * noise):
        return None
    return (
        f"values lie near {typical:.6g}, where float32, the output's type, steps by {step:g}, {step / noise:.2g} x "
        f"the input's noise ({noise:.3g}): the output cannot keep what denoising leaves; subtract the offset first "
        "and add it back after, in float64 (y = run(x - c).astype('float64') + c)"
    )


def first_clipping_warning(arr: np.ndarray) -> str | None:
    """:func:`fluorodn._engine.clipping_warning` of a 2D ``arr``, or of the first clipped page of a
    stack (pages, H, W), named by its page index from page 1 on, as :meth:`Denoiser.stream` gives it;
    None if no page is clipped. Each page is checked against its own extremes, without a copy."""
    for k, page in enumerate([arr] if arr.ndim == 2 else arr):
        if clipped := clipping_warning(page):
            return f"page index {k}: {clipped}" if k else clipped
    return None


def _is_real(x: Any) -> bool:
    """Whether ``x`` is a real number (a Python or numpy int or float; not a bool)."""
    return not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating))


def _is_integer(x: Any) -> bool:
    """Whether ``x`` is an integer (a Python or numpy int; not a bool)."""
    return not isinstance(x, bool) and isinstance(x, (int, np.integer))


def checked_progress(progress: Any) -> None:
    """InputError unless ``progress`` is None or callable (it is called with counts of values done)."""
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be None or a function taking the number of values finished, not {progress!r}")


def checked_model(model: Any) -> None:
    """InputError unless ``model`` is what :class:`Denoiser` takes: a model's name or a path."""
    if not isinstance(model, str | os.PathLike):
        raise InputError(
            f"model must be a shipped model's name (e.g. 'default') or the path to an .onnx file, not {model!r}"
        )


def checked_bool(name: str, value: Any) -> bool:
    """``value`` of the argument ``name`` as a bool; InputError unless it is True or False (a
    numpy bool too), so that a string such as ``"False"`` is not taken as true."""
    if not isinstance(value, bool | np.bool_):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def checked_rate(rate: float | None) -> str | None:
    """The :class:`OutOfDomainWarning` message for a recording sampled at ``rate`` samples per second
    (:func:`fluorodn.spectral.rate_warning`), None for an unknown rate (None) or one that needs none;
    InputError for a rate that is not a positive number."""
    if rate is None:
        return None
    if not _is_real(rate):
        raise InputError(f"rate must be a number of samples per second, not {rate!r}")
    if refused := spectral.rate_refusal(float(rate)):
        raise InputError(refused)
    return spectral.rate_warning(float(rate))


def few_samples_warning(t: int) -> str | None:
    """The :class:`OutOfDomainWarning` message for a spectral recording of fewer than
    :data:`fluorodn.spectral.FEW_SAMPLES` samples, too few to tell its signal from its noise over
    time; None otherwise."""
    if t >= spectral.FEW_SAMPLES:
        return None
    return (
        f"the recording has only {t} samples, too few to tell its signal from its noise over time: the output "
        f"can end further from the truth than the input (recordings of {spectral.FEW_SAMPLES} samples or more "
        "did not, in the benchmark of short recordings)"
    )


def measured_warnings(stats: dict[str, float], limits: dict[str, list[float]], t: int) -> list[str]:
    """:func:`fluorodn.spectral.domain_warnings` of a recording of ``t`` samples; none under
    :data:`fluorodn.spectral.FEW_SAMPLES` (too few rows to measure its noise or what was removed:
    :func:`few_samples_warning` says what is off) but that it does not change at all."""
    if t < spectral.FEW_SAMPLES and not stats.get("still"):
        return []
    return spectral.domain_warnings(stats, limits)


def unread_refusal(options: DenoiserOptions, name: str, model_kind: str, kind: str | None) -> str | None:
    """Why a Denoiser of model ``name`` (of ``model_kind``), run as ``kind``, refuses ``options``:
    options that the one path every input takes would drop without a word (the spectral path's on an
    image model or ``kind="image"``, the image path's with ``kind="spectral"``); None where it
    takes them."""
    every = "spectral" if kind == "spectral" else "image" if model_kind == "image" else None
    if every is None or not (unread := options.unread_by(every)):
        return None
    named = " and ".join([", ".join(unread[:-1]), unread[-1]] if len(unread) > 1 else unread)
    who = f"kind {kind!r} runs" if kind == every else f"model {name!r} is an image model, which runs"
    other = "image" if every == "spectral" else "spectral"
    return (
        f"{who} the {every} path on every input, and {named} appl{'y' if len(unread) > 1 else 'ies'} to "
        f"the {other} path only; leave {'them' if len(unread) > 1 else 'it'} out"
    )


def transposed_warning(shape: tuple[int, ...], page: np.ndarray | None = None) -> str | None:
    """The :class:`OutOfDomainWarning` message for a spectral recording of ``shape`` with more
    wavelength bins than time samples, which looks transposed; None otherwise, and None where the
    recording, ``page`` (all of it), reads the way it is given (:func:`fluorodn.spectral.reads_as_given`):
    a short recording the right way round."""
    t, w = shape
    if w <= t:
        return None
    if page is not None and page.shape == tuple(shape) and spectral.reads_as_given(page):
        return None
    return (
        f"the recording has more wavelength bins ({w}) than time samples ({t}): it looks transposed; "
        "pass it as (time, wavelength)"
    )


#: The fields of :class:`DenoiserOptions` that only the spectral path reads, at their defaults.
SPECTRAL_DEFAULTS: dict[str, Any] = {
    "keep_fixed_pattern": False,
    "spectral_only": False,
    "strength": 1.0,
    "keep_onsets": True,
}


@dataclass(frozen=True)
class DenoiserOptions:
    """Settings of a :class:`Denoiser`; all have sensible defaults."""

    threads: int | None = None
    """CPU threads one call may use (onnxruntime intra-op), 1 to 4 x the CPUs of the machine that runs
    it (checked when a Denoiser opens its session); None: the physical cores available."""
    tile_pixels: int | None = None
    """Most pixels per network call (windows x rows x cols, halo included); None: 2**19 CPU, 2**22 CUDA."""
    cuda_device: int = 0
    """Index of the GPU used when running on CUDA."""
    precision: str = "auto"
    """fp32, int8 (the shipped quantized variant; CPU only), bf16, or auto (int8 on the CPU where shipped
    and measured faster, :data:`fluorodn.registry.AUTO_MIN_SPEEDUP`); a
    :class:`fluorodn.precision.Precision` is kept as its value."""
    keep_fixed_pattern: bool = False
    """Spectral path: keep each bin's time mean as it is instead of removing the detector's per-bin
    fixed pattern (:func:`fluorodn.spectral.smooth_spectrum`)."""
    spectral_only: bool = False
    """Spectral path: denoise across wavelength only. The recording is projected onto its spectra
    and the noise-only components are dropped (and the fixed pattern removed), but the signal traces
    are kept as recorded instead of going through the network. Nothing is filtered over time, so
    every event keeps its recorded time course: event counts stay at the raw recording's where the
    network's smoothing merges close events (high noise, slow rises), at the price of most of the
    coherence gain. Frames ignore it."""
    strength: float = 1.0
    """Spectral path: how much noise the network removes over time, from 0 to 1. The network is
    told that each trace's noise is ``strength`` times what was measured, and removes what it then
    finds: 1 (the default) denoises fully; lower values smooth less, so events keep sharper rises
    and close events stay apart (event counts at high noise with slow rises), at the price of
    coherence; 0 is ``spectral_only``. ``python -m benchmarks strength`` measures the trade. Frames
    ignore it."""
    keep_onsets: bool = True
    """Spectral path: around the large changes of the traces that change sparsely (the events'
    rises), take the network's output at :data:`fluorodn.spectral.ONSET_STRENGTH` times
    ``strength`` instead (:func:`fluorodn.spectral.keep_onsets`), which rounds them less. Events
    keep sharper onsets and close events stay apart where the full network merges them (high noise,
    slow rises), at a small share of the coherence that a uniformly lower ``strength`` gives up;
    the network runs a second time on those traces. False: the full network everywhere.
    ``python -m benchmarks strength`` measures both. Frames ignore it."""
    self_ensemble: bool = False
    """Image path: average the network's result over the page's 8 rotations and mirror images, each
    denoised on its own (a geometric self-ensemble): 0.8-0.9x the error at 8x the run time.
    Spectral recordings ignore it (their network is odd in the traces, and reversing time gains
    nothing measurable)."""
    keep_spots: bool = True
    """Image path: on a page whose small bright spots the image model flattened (the check of
    :func:`fluorodn._engine.removal_warning`; the models never saw point-like spots), put back what
    it removed from the spots (:func:`fluorodn._engine.keep_spots`: whole on the 5 x 5 pixels
    around each, smoothed over the 13 x 13), so that they keep their peaks and intensity, with the
    input's noise on them; the warning says so. False: the network's output as it is (the warning
    stays). ``fluorodn.dask`` puts spots back on a stack's pages, not on a single frame cut into
    chunks. ``run(scale=...)``, one block of a chunked run, neither checks nor puts back. Spectral
    recordings ignore it."""

    def __post_init__(self) -> None:
        for name in ("threads", "tile_pixels"):
            value = getattr(self, name)
            if value is not None and (not _is_integer(value) or value < 1):
                raise InputError(f"{name} must be a positive integer or None, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, int(value))
        if not _is_integer(self.cuda_device) or self.cuda_device < 0:
            raise InputError(f"cuda_device must be a non-negative integer, got {self.cuda_device!r}")
        object.__setattr__(self, "cuda_device", int(self.cuda_device))
        if not _is_real(self.strength):
            raise InputError(f"strength must be a number from 0 to 1, got {self.strength!r}")
        if not 0.0 <= float(self.strength) <= 1.0:
            raise InputError(f"strength must be from 0 to 1, got {self.strength!r}")
        object.__setattr__(self, "strength", float(self.strength))
        for name in ("keep_fixed_pattern", "spectral_only", "keep_onsets", "self_ensemble", "keep_spots"):
            object.__setattr__(self, name, checked_bool(name, getattr(self, name)))
        if self.spectral_only and (self.strength != 1.0 or not self.keep_onsets):
            raise InputError(
                "spectral_only=True filters nothing over time, so strength=... and keep_onsets=False do not apply "
                "to it; leave them out"
            )
        try:
            precision = check_precision(self.precision)
        except ValueError as err:
            raise InputError(str(err)) from None
        object.__setattr__(self, "precision", precision)

    @property
    def filters_over_time(self) -> bool:
        """Whether the spectral path runs its network (not with ``spectral_only`` or strength 0)."""
        return not (self.spectral_only or self.strength == 0.0)

    def spectral_settings(self) -> list[str]:
        """The fields only the spectral path reads (:data:`SPECTRAL_DEFAULTS`) that are set away from
        their defaults, as keyword arguments (``["strength=...", "spectral_only=True"]``)."""
        return [
            f"{name}=..." if name == "strength" else f"{name}={not default}"
            for name, default in SPECTRAL_DEFAULTS.items()
            if getattr(self, name) != default
        ]

    def unread_by(self, path: str) -> list[str]:
        """The fields set away from their defaults that the ``path`` ("spectral" or "image") does
        not read, as keyword arguments: ``self_ensemble=True`` and ``keep_spots=False`` on the
        spectral path, and the :meth:`spectral_settings` on the image path."""
        if path == "spectral":
            return ["self_ensemble=True"] * self.self_ensemble + ["keep_spots=False"] * (not self.keep_spots)
        return self.spectral_settings()

    def for_images(self) -> DenoiserOptions:
        """These options with the spectral path's fields at their defaults: what the image model a
        spectral model hands frames to runs with (frames ignore those fields)."""
        return dataclasses.replace(self, **SPECTRAL_DEFAULTS)

    def spectral_label(self) -> str:
        """How a spectral run with these options differs from the default, for summary lines
        (``"strength 0.5, onsets rounded"``, ``"spectral only"``); empty where it does not."""
        if self.spectral_only:  # nothing over time: the strength and the onsets do not apply
            return "spectral only"
        how = [f"strength {self.strength:g}"] if self.strength != 1.0 else []
        return ", ".join(how + ([] if self.keep_onsets else ["onsets rounded"]))


class Denoiser:
    """DnCNN denoiser for spectral recordings, 2D images and stacks of 2D pages.

    Two paths run, by the kind of input:

    * **spectral** (a 2D time x wavelength recording, or a stack of them, each on its own): the
      recording is projected onto its leading spectral components (:mod:`fluorodn.spectral`), a
      1D DnCNN denoises the coefficient traces over time, and the result is mapped back; every
      output value is informed by its sample's whole spectrum. The detector's per-bin fixed pattern (constant
      in time, not smooth across bins) is removed too, unless ``options.keep_fixed_pattern``.
      Around the large changes of the traces that change sparsely (the events' rises), the
      output of a second, weaker run is taken, which rounds the onsets less
      (``options.keep_onsets``). With ``options.spectral_only`` the network is left out: only the
      projection runs.
      Inputs outside the model's training domain raise an
      :class:`~fluorodn.errors.OutOfDomainWarning`.
    * **image** (microscopy frames, stacks of them, anything without a spectral axis): the
      2D DnCNN on tiles with a halo. Clipped (saturated) values raise an
      :class:`~fluorodn.errors.OutOfDomainWarning`; pages that look like spectral recordings, a
      :class:`~fluorodn.errors.ModelChoiceWarning` unless ``kind="image"`` is declared.

    Parameters
    ----------
    model : ``"default"`` (the shipped spectral model for spectral recordings, and the
        shipped image model ``"low"`` for images), a shipped model's name, or a path to an
        ``.onnx`` file with fluorodn metadata.
    device : ``"auto"`` (CUDA where onnxruntime can use it, else CPU; the choice is
        logged), ``"cpu"``, or ``"cuda"`` (raises :class:`DeviceError` where CUDA is not
        usable; never falls back silently).
    options : :class:`DenoiserOptions` (threads, tile budget, GPU index, precision, fixed pattern).
    precision : shortcut for ``options.precision`` (overrides it when given): ``"fp32"``,
        ``"int8"`` (the model's shipped int8 variant, run on the CPU; :class:`ModelError`
        if it has none), ``"bf16"`` (refused with :class:`InputError`: no provider here
        runs it faster), or ``"auto"`` (the fastest variant shipped for the provider in
        use: int8 on the CPU where the model has one measured at least
        :data:`fluorodn.registry.AUTO_MIN_SPEEDUP` times faster, fp32 on CUDA).
    kind : ``"auto"`` (detect per input: a 2D array with 24-1024 columns and at least twice
        as many rows is spectral, and so is a shorter one whose rows are all one spectrum,
        :func:`fluorodn.spectral.short_recording`), ``"spectral"`` or ``"image"`` (declare it).

    Examples
    --------
    >>> den = Denoiser()                       # doctest: +SKIP
    >>> clean = den.run(recording)             # (T, W) float32, same shape  # doctest: +SKIP
    >>> frames = den.run(stack)                # (pages, H, W): image path  # doctest: +SKIP

    Attributes
    ----------
    name, sha256, metadata, halo : the model's name, hash of the file that runs, metadata and
        receptive-field radius.
    model_card : the typed card of the model (:class:`fluorodn.registry.ModelCard`).
    precision : the precision that runs (``"fp32"`` or ``"int8"``).
    provider : the onnxruntime execution provider that runs the model.
    cuda_available : whether this onnxruntime has a CUDA provider (usable or not).
    threads : intra-op CPU threads of the session.
    tile_pixels : the pixel budget per network call in use.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "default",
        device: str = "auto",
        options: DenoiserOptions | None = None,
        *,
        precision: str | None = None,
        kind: str = "auto",
    ) -> None:
        checked_model(model)
        if device not in DEVICES:
            raise InputError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
        if kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if options is not None and not isinstance(options, DenoiserOptions):
            example = (
                f"DenoiserOptions(**{options!r})" if isinstance(options, dict) else "DenoiserOptions(strength=0.5)"
            )
            raise InputError(
                f"options must be a fluorodn.DenoiserOptions or None, not a {type(options).__name__}; pass e.g. "
                f"{example}"
            )
        self.declared_kind = kind
        if kind == "image" and model == "default":
            model = IMAGE_MODEL
        self._image_lock = threading.Lock()
        self._image_denoiser: Denoiser | None = None
        self.options = options or DenoiserOptions()
        if precision is not None:
            self.options = dataclasses.replace(self.options, precision=precision)
        self.device = device
        if self.options.threads is not None and self.options.threads > (limit := thread_limit()):
            # checked where the session opens: options made for other machines (Dask workers) pass
            raise InputError(
                f"threads must be from 1 to {limit} (4 x the {limit // 4} CPUs here) or None, got "
                f"{self.options.threads}"
            )
        self.threads = self.options.threads or physical_cores()
        resolution = resolve(model, self.options.precision, device, available_providers())
        loaded = open_session(resolution, threads=self.threads, cuda_device=self.options.cuda_device)
        self._session = loaded.session
        self.cuda_available: bool = loaded.cuda_available
        self.provider: str = loaded.provider
        source = loaded.source
        self.path = source.path
        self.sha256 = source.sha256
        # what makes it again when pickled: a registry name as given, a file by its full path
        self._model = model if source.shipped else os.path.abspath(source.path)
        self.model_card = resolution.card(source, embedded_metadata(self._session))
        self.metadata: dict[str, Any] = self.model_card.raw
        self.precision: str = source.variant or self.model_card.precision
        # a shipped model is called by its registry name, a user file by the name in its metadata
        self.name: str = source.name if source.shipped else self.model_card.name
        self.halo: int = self.model_card.halo
        self.kind: str = self.model_card.kind
        if kind == "spectral" and self.kind != "spectral":
            raise ModelError(f"model {self.name!r} is an image model; kind 'spectral' needs a spectral model")
        if kind == "image" and self.kind != "image":
            raise ModelError(f"model {self.name!r} is a spectral model; kind 'image' needs an image model")
        if refusal := unread_refusal(self.options, self.name, self.kind, kind):
            raise ModelError(refusal)
        self.channels: int = self.model_card.channels
        self._input, self._output = io_names(self._session, self.kind, self.channels, str(source.path))
        self.tile_pixels = self.options.tile_pixels or (CUDA_TILE_PIXELS if self.provider == CUDA else CPU_TILE_PIXELS)
        log.info(
            "model %s (%s, sha256 %s) runs on %s with %d threads",
            self.name,
            self.precision,
            self.sha256[:12],
            self.provider,
            self.threads,
        )

    def _net(self, batch: np.ndarray) -> np.ndarray:
        """The network on one batch: the noise it estimates."""
        (noise,) = self._session.run([self._output], {self._input: batch})
        return np.asarray(noise)

    @property
    def card(self) -> dict[str, Any]:
        """A short summary of the model that runs (the full record is ``metadata``)."""
        keys = (
            "name",
            "kind",
            "architecture",
            "depth",
            "width",
            "halo",
            "noise_scale",
            "noise_scale_range",
            "instances_seen",
            "domain",
        )
        out = {k: self.metadata[k] for k in keys if k in self.metadata}
        out.update(precision=self.precision, provider=self.provider, sha256=self.sha256[:12])
        return out

    def __repr__(self) -> str:
        kind = f", kind={self.declared_kind!r}" if self.declared_kind != "auto" else ""
        default = DenoiserOptions()
        changed = [
            f"{f.name}={getattr(self.options, f.name)!r}"
            for f in dataclasses.fields(DenoiserOptions)
            if f.name not in ("threads", "precision") and getattr(self.options, f.name) != getattr(default, f.name)
        ]
        options = f", options=DenoiserOptions({', '.join(changed)})" if changed else ""
        return (
            f"Denoiser(model={self.name!r}{kind}, precision={self.precision!r}, provider={self.provider!r}, "
            f"halo={self.halo}, threads={self.threads}{options})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for a process pool, or a copy) as what makes it again: the model, device,
        options and kind, and the model file's sha256, which the copy checks (ModelError where
        the file changed in between); the session is opened anew."""
        return (_rebuilt, (self._model, self.device, self.options, self.declared_kind, self.sha256))

    # -- public API -------------------------------------------------------------------

    def run(
        self,
        x: Any,
        *,
        scale: tuple[float, float] | None = None,
        progress: Progress | None = None,
        border: str | None = None,
        recording: bool = False,
        rate: float | None = None,
    ) -> np.ndarray:
        """Denoise one 2D recording or a stack of 2D pages.

        Parameters
        ----------
        x : (H, W) or (pages, H, W) array of any real dtype (ints, unsigned ints,
            floats), finite; higher dimensions (..., H, W) are pages over the last two axes.
            Any size from 1x1 up; large inputs are tiled, memory stays
            bounded by ``tile_pixels`` besides the output. ``x`` is never modified.
        scale : ``(m, s)`` for a 2D ``x``: use this centre and noise scale instead of
            ``global_scale(x)`` (for chunked arrays whose global scale is known).
        progress : called with the number of output pixels finished after each batch.
        border : image path only (InputError on the spectral path): ``"mirror"`` (the page is
            extended by mirrored pixels, so its border is denoised like its interior) or
            ``"zero"`` (the network zero-pads, as the image models saw the ends of the spectrum
            in training); default
            ``"zero"`` for pages that look like spectral recordings
            (:func:`fluorodn.spectral.looks_spectral`), ``"mirror"`` for everything else.
        recording : the pages are known to be time x wavelength, e.g. read from a spectrometer's
            file (:func:`fluorodn.formats.read`): with a spectral model and ``kind="auto"``, a
            recording takes the spectral path however short (from 2 samples,
            :func:`fluorodn.spectral.takes_recording`), not only when it looks spectral (twice as
            many samples as bins) or its rows are one spectrum, and is not said to look transposed.
        rate : samples per second of a recording, where known: one sampled under
            :data:`fluorodn.spectral.LOW_RATE_HZ` that the spectral path denoises warns
            (:class:`OutOfDomainWarning`; the model was trained at 5 Hz and counts in samples).

        Returns
        -------
        (H, W) or (pages, H, W) float32 array, the shape of ``x``. On the image path
        ``x - s * net((x - m) / s)``, where ``(m, s)`` is the global scale of each page (except
        around small bright spots the network flattened, where ``options.keep_spots`` puts back what
        it removed; not with ``scale=``, which runs no checks); on the spectral path each recording
        projected onto its spectra, its coefficient traces denoised over time by the network
        (README, "Spectral path").

        Examples
        --------
        >>> den = Denoiser()                                   # doctest: +SKIP
        >>> clean = den.run(np.load("session.npy"))            # (T, W) -> (T, W) float32  # doctest: +SKIP

        Raises
        ------
        InputError (a ValueError) : not 2D or more, empty, non-real dtype (bool, complex, object,
            str), a masked array with masked values, NaN/inf values, values beyond float32's range
            or a page whose values all lie below its smallest normal number, or an argument that
            is not one of those described above.
        """
        return self._run(x, scale, progress, border, 2, recording, rate)

    def _run(
        self,
        x: Any,
        scale: tuple[float, float] | None,
        progress: Progress | None,
        border: str | None,
        depth: int,
        recording: bool = False,
        rate: float | None = None,
    ) -> np.ndarray:
        """:meth:`run`, its warnings pointing ``depth`` frames above this method (at the user's line);
        ``recording``: the pages are known to be time x wavelength (:meth:`_path_for`); ``rate``: their
        samples per second, if known."""
        slow = checked_rate(rate)
        checked_progress(progress)
        recording = checked_bool("recording", recording)
        if border is not None:
            self.border_mode((0, 0), border)  # checked before any warning about the input
        # a scale given: a block of a chunked run, not a whole page
        arr = check_input(x, ndims=(2, 3, 4, 5, 6), pages=scale is None)
        if arr.ndim > 3:  # (..., H, W): pages over the last two axes, as the command line reads files
            pages_2d = arr.reshape(-1, *arr.shape[-2:])
            return self._run(pages_2d, scale, progress, border, depth + 1, recording, rate).reshape(arr.shape)
        first = arr if arr.ndim == 2 else arr[0]  # check_input refuses a stack of no pages
        # a scale given: one block of a chunked run, whose path the whole array's caller chose
        path = self._path_for(arr.shape, recording, first if scale is None else None)
        if path == "spectral" and border is not None:
            raise InputError(
                "border=... applies to the image path only; a spectral recording is not tiled (the spectral path "
                "pads its traces at their ends itself): leave it out"
            )
        if path == "spectral" and slow:
            warnings.warn(OutOfDomainWarning(slow), stacklevel=1 + depth)
        if path == "spectral" and (bins := bins_warning(arr.shape[-1])):
            warnings.warn(OutOfDomainWarning(bins), stacklevel=1 + depth)
        if path == "delegate" and scale is None and (hint := delegated_warning(first, stacked=arr.ndim > 2)):
            warnings.warn(OutOfDomainWarning(hint), stacklevel=1 + depth)
        if path == "delegate" and recording and (hint := recorded_bins_warning(arr.shape)):
            warnings.warn(OutOfDomainWarning(hint), stacklevel=1 + depth)
        if (
            path == "delegate"
            and self.declared_kind == "auto"
            and scale is None
            and (hint := channels_last_warning(arr.shape))
        ):
            warnings.warn(OutOfDomainWarning(hint), stacklevel=1 + depth)
        if path != "spectral" and scale is None:
            self._warn_choice(arr.shape[-2:], depth + 1, recording)
            if narrow := narrow_warning(arr.shape):
                warnings.warn(OutOfDomainWarning(narrow), stacklevel=1 + depth)
            if clipped := first_clipping_warning(arr):
                warnings.warn(OutOfDomainWarning(clipped), stacklevel=1 + depth)
        if scale is None and (coarse := resolution_warning(arr)):
            warnings.warn(OutOfDomainWarning(coarse), stacklevel=1 + depth)
        if path == "spectral":
            if scale is not None:
                raise InputError("scale=(m, s) applies to the image path only; spectral recordings are scaled per bin")
            detected = self.declared_kind == "auto" and not recording
            if arr.ndim == 2:
                out, found = self._run_spectral(arr, progress, recording=recording)
                _warn_page(found, 0, depth + 1, detected)
                return out
            # a stack of recordings: each on its own, as stream() gives them, with the warnings of
            # the first that gets out-of-domain ones, by its page index (the checks stop there)
            out = np.empty(arr.shape, dtype=np.float32)
            # (a caution about the events is given once, and does not stop the checks)
            warned = cautioned = False
            for k, page in enumerate(arr):
                out[k], found = self._run_spectral(page, progress, checks=not warned, recording=recording)
                found, cautioned = _caution_once(found, cautioned)
                warned = _warn_page(found, k, depth + 1, detected) or warned
            return out
        runner = self._image() if path == "delegate" else self  # warnings from here, at the caller
        out = runner._run_image(arr, scale, progress, border)
        if scale is None:  # a chunked run (a scale given) is one block of a whole the check needs
            pages, outs = ([arr], [out]) if arr.ndim == 2 else (list(arr), list(out))
            if removed := removal_warning(pages, outs, keep=self.options.keep_spots):
                warnings.warn(OutOfDomainWarning(removed), stacklevel=1 + depth)
        return out

    def _run_image(
        self,
        arr: np.ndarray,
        scale: tuple[float, float] | None = None,
        progress: Progress | None = None,
        border: str | None = None,
    ) -> np.ndarray:
        """The image path of :meth:`run` on a checked 2D or 3D ``arr``, without the warnings about
        the input (a chunked run gives those once, for the whole array)."""
        pages = [arr] if arr.ndim == 2 else list(arr)
        if scale is not None:
            if arr.ndim != 2:
                raise InputError("scale=(m, s) is only accepted for a 2D input; stacks use one scale per page")
            scales = [check_scale(scale)]
        else:
            scales = [global_scale(p) for p in pages]
        out = np.empty(arr.shape, dtype=np.float32)
        outs = [out] if arr.ndim == 2 else list(out)
        self._denoise(pages, scales, outs, progress, border)
        return out

    def stream(
        self,
        pages: Iterable[Any],
        *,
        progress: Progress | None = None,
        recording: bool = False,
        rate: float | None = None,
    ) -> Iterator[np.ndarray]:
        """Denoise 2D pages one after the other, yielding (H, W) float32 pages in order.

        Consecutive pages of equal shape are sent to the network together up to the
        pixel budget, so a long stack of small frames runs in few calls; at most that
        many pages are held at once. Each page uses its own global scale. When the model
        is spectral, the first page decides the path: spectral recordings run one by one,
        image pages go to the image model. ``recording`` and ``rate``: as for :meth:`run`.
        Its arguments are checked here, when it is called (InputError); the pages as they come.
        """
        checked_rate(rate)
        checked_progress(progress)
        return self._stream(_pages_of(pages), progress, 1, checked_bool("recording", recording), rate)

    def _stream(
        self,
        pages: Iterable[Any],
        progress: Progress | None,
        depth: int,
        recording: bool = False,
        rate: float | None = None,
    ) -> Iterator[np.ndarray]:
        """:meth:`stream`, its warnings pointing ``depth`` frames above this generator's own;
        ``recording``: the pages are known to be time x wavelength (:meth:`_path_for`); ``rate``:
        their samples per second, if known."""
        slow = checked_rate(rate)
        if self.kind == "spectral":
            yield from self._stream_spectral(iter(pages), progress, depth + 1, recording, slow)
        else:
            yield from self._stream_image(iter(pages), progress, depth + 1, recording)

    def _stream_image(
        self, pages: Iterator[Any], progress: Progress | None, depth: int, recording: bool = False
    ) -> Iterator[np.ndarray]:
        """:meth:`stream` through the image path, its warnings pointing ``depth`` frames above this
        generator's own (at the caller of :meth:`stream`); ``recording``: the pages are known to be
        time x wavelength."""
        chunk: list[np.ndarray] = []
        clipped: str | None = None
        # warned about the first page from which structure was removed; told of spots put back
        told = (False, False)
        done = 0
        for k, page in enumerate(pages):
            try:
                arr = check_input(page, ndims=(2,))
            except InputError as err:
                raise InputError(f"page index {k}: {err}") from err
            if k == 0:
                self._warn_choice(arr.shape, depth + 1, recording)
                if narrow := narrow_warning(arr.shape):
                    warnings.warn(OutOfDomainWarning(narrow), stacklevel=1 + depth)
                if coarse := resolution_warning(arr):
                    warnings.warn(OutOfDomainWarning(coarse), stacklevel=1 + depth)
            if not clipped and (clipped := clipping_warning(arr)):  # the first clipped page, once
                message = f"page index {k}: {clipped}" if k else clipped
                warnings.warn(OutOfDomainWarning(message), stacklevel=1 + depth)
            if chunk and (arr.shape != chunk[0].shape or (len(chunk) + 1) * arr.size > self.tile_pixels):
                told = yield from self._checked(chunk, done, told, progress, depth + 1)
                done += len(chunk)
                chunk = []
            chunk.append(arr)
        if chunk:
            yield from self._checked(chunk, done, told, progress, depth + 1)

    def _checked(
        self, chunk: list[np.ndarray], first: int, told: tuple[bool, bool], progress: Progress | None, depth: int
    ) -> Generator[np.ndarray, None, tuple[bool, bool]]:
        """:meth:`_flush`, with :func:`removal_check` on the chunk's pages (``first``: the page index
        of its first) unless a page of the stream warned already (``told``: whether one has, and
        whether the spots put back were told of); with ``keep_spots`` every page is checked, for the
        flattened spots it puts back, and spots put back after the stream's warning are told of
        once. Returns ``told`` as it then stands. The warnings point ``depth`` frames above this
        generator's own, at the caller of :meth:`stream`."""
        outs = list(self._flush(chunk, progress))  # the chunk is denoised whole before its first page
        keep = self.options.keep_spots
        warned, spots_told = told
        if keep or not warned:
            message, kept, at = removal_check(chunk, outs, first, keep=keep)
            if message and not warned:
                warnings.warn(OutOfDomainWarning(message), stacklevel=1 + depth)
                warned, spots_told = True, kept > 0
            elif kept and not spots_told:  # a later page's: the stream's warning said nothing of them
                where = f"page index {at}: " if at else ""
                note = where + spots_said(kept, 1, about_spots=False).removeprefix("; ")
                warnings.warn(OutOfDomainWarning(note), stacklevel=1 + depth)
                spots_told = True
        yield from outs
        return warned, spots_told

    # -- spectral path ----------------------------------------------------------------

    def _path_for(self, shape: tuple[int, ...], recording: bool = False, first: np.ndarray | None = None) -> str:
        """ "image" (this image model), "spectral" (this spectral model) or "delegate" (the image model),
        by shape, then by content (:func:`delegated_warning` says what a delegated page may be).
        ``recording``: pages known to be time x wavelength (a spectrometer's file, or what
        :func:`fluorodn.unmix` denoises), which take the spectral path by
        :func:`fluorodn.spectral.takes_recording` rather than by their look. ``first``: the first
        page (all of it); a page too short to look like a recording whose rows are yet one
        spectrum (:func:`fluorodn.spectral.short_recording`) takes the spectral path, where the
        image model can leave a short recording further from the truth than it came
        (``python -m benchmarks lengths``). Without it the shape alone decides."""
        if self.kind == "image":
            return "image"
        # one recording, or a stack of recordings of one shape (each denoised on its own)
        page = tuple(shape[-2:])
        if self.declared_kind == "spectral" or spectral.looks_spectral(page):
            return "spectral"
        if self.declared_kind != "auto":
            return "delegate"
        if recording:
            return "spectral" if spectral.takes_recording(page) else "delegate"
        if first is not None and spectral.short_recording(first, page):
            return "spectral"
        return "delegate"

    def _warn_choice(self, page: tuple[int, ...], depth: int = 2, recording: bool = False) -> None:
        """:class:`ModelChoiceWarning` (pointing ``depth`` frames above this method's own) if
        pages of shape ``page`` look like spectral recordings but go to this image model without
        their kind declared (:func:`choice_warning`; ``recording``: known to be recordings)."""
        if self.declared_kind == "auto" and self.kind == "image":
            message = choice_warning(self.name, page, recording)
            if message:
                warnings.warn(ModelChoiceWarning(message), stacklevel=1 + depth)

    def _runs(self, shape: tuple[int, ...], recording: bool = False, first: np.ndarray | None = None) -> Denoiser:
        """The Denoiser that denoises pages of ``shape`` (``recording``: known time x wavelength;
        ``first``: the first page, :meth:`_path_for`): this one, or the image model it hands them to."""
        return self._image() if self._path_for(tuple(shape), recording, first) == "delegate" else self

    def _image(self) -> Denoiser:
        """The image model used for inputs a spectral model does not take (created once)."""
        with self._image_lock:
            if self._image_denoiser is None:
                options = self.options.for_images()
                self._image_denoiser = Denoiser(IMAGE_MODEL, device=self.device, options=options, kind="image")
            return self._image_denoiser

    def _stream_spectral(
        self, pages: Iterator[Any], progress: Progress | None, depth: int, recording: bool, slow: str | None = None
    ) -> Iterator[np.ndarray]:
        """:meth:`stream` with a spectral model, its warnings pointing ``depth`` frames above this
        generator's own; ``recording``: the pages are known to be time x wavelength; ``slow``: the
        warning for their sampling rate (:func:`checked_rate`), given if they take the spectral path."""
        first = next(pages, None)
        if first is None:
            return
        try:
            arr = check_input(first, ndims=(2,))
        except InputError as err:
            raise InputError(f"page index 0: {err}") from err
        if self._path_for(arr.shape, recording, arr) == "delegate":
            for hint in (delegated_warning(arr), recorded_bins_warning(arr.shape) if recording else None):
                if hint:
                    warnings.warn(OutOfDomainWarning(hint), stacklevel=1 + depth)
            yield from self._image()._stream_image(_chain(arr, pages), progress, depth + 1)
            return
        if slow:
            warnings.warn(OutOfDomainWarning(slow), stacklevel=1 + depth)
        if coarse := resolution_warning(arr):
            warnings.warn(OutOfDomainWarning(coarse), stacklevel=1 + depth)
        if bins := bins_warning(arr.shape[1]):
            warnings.warn(OutOfDomainWarning(bins), stacklevel=1 + depth)
        detected = self.declared_kind == "auto" and not recording
        out, found = self._run_spectral(arr, progress, recording=recording)
        found, cautioned = _caution_once(found, False)  # (a caution about the events: once, as one call gives it)
        warned = _warn_page(found, 0, depth + 1, detected)
        yield out
        for k, page in enumerate(pages, start=1):
            try:
                arr = check_input(page, ndims=(2,))
            except InputError as err:
                raise InputError(f"page index {k}: {err}") from err
            if not bins and (bins := bins_warning(arr.shape[1])):  # the first page outside the range, once
                warnings.warn(OutOfDomainWarning(f"page index {k}: {bins}"), stacklevel=1 + depth)
            out, found = self._run_spectral(arr, progress, checks=not warned, recording=recording)
            found, cautioned = _caution_once(found, cautioned)
            warned = _warn_page(found, k, depth + 1, detected) or warned
            yield out

    def run_projected(self, x: np.ndarray, projection: spectral.Projection) -> np.ndarray:
        """Denoise rows ``x`` (T, W) of a spectral recording with a projection fitted on the
        whole recording (:func:`fluorodn.spectral.fit`), e.g. one chunk of a dask array; no
        domain checks (they need the whole recording). Returns (T, W) float32."""
        if self.kind != "spectral":
            raise ModelError(f"model {self.name!r} is an image model; run_projected needs a spectral model")
        arr = check_input(x, ndims=(2,), pages=False)
        # rows of the recording: each bin's time mean is matched to the projection's, not to these rows'
        return self._run_spectral(arr, None, dataclasses.replace(projection, whole=False))[0]

    def _projected_traces(self, x: np.ndarray, projection: spectral.Projection) -> np.ndarray:
        """(T, K) float32: the denoised coefficient traces of rows ``x`` (T, W) of a spectral
        recording with a projection fitted on the whole recording, as :meth:`run_projected` has
        them before it maps them back to the bins (:func:`fluorodn.spectral.reconstruct`)."""
        return self._projected(check_input(x, ndims=(2,), pages=False), projection)[1]

    def _projected(
        self, arr: np.ndarray, projection: spectral.Projection
    ) -> tuple[spectral.Projection, np.ndarray, np.ndarray]:
        """(``projection`` with the coefficient traces of rows ``arr`` (T, W), those traces denoised
        (:meth:`_traces_and_kept`), (T,) bool: the samples of sudden changes kept as recorded)."""
        part = dataclasses.replace(projection, coef=spectral.coefficients(projection, arr))
        return (part, *self._traces_and_kept(part, arr))

    def _run_spectral(
        self,
        arr: np.ndarray,
        progress: Progress | None,
        fitted: spectral.Projection | None = None,
        checks: bool = True,
        recording: bool = False,
        lit: bool = False,
        index: np.ndarray | None = None,
        level: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """One recording, and the messages of its out-of-domain checks; none with ``fitted`` (a
        projection fitted on a whole of which ``arr`` is rows) or without ``checks``; none about its
        orientation when it is known (``recording``). ``lit``: its rows are known to be lit;
        ``index``: each row's sample index in the recording the messages name (None: its own);
        ``level``: ``arr`` is a recording made steady (:func:`fluorodn.noise_change.steadied`): (the
        level (T,) its noise was at at each sample, the recording as given).

        Samples taken with the light off in a whole recording (:func:`fluorodn.spectral.lit_mask`:
        at its start, its end or in between), and saturated ones, are returned as recorded
        (:func:`fluorodn.spectral.set_aside`), and the lit samples denoised as one recording, in
        order: those rows are not the spectrum, and projected with it they would be smeared into the
        lit samples next to them. Of a whole recording whose noise changes over time beyond what its
        light explains (:func:`fluorodn.noise_change.change`), the steadied recording is denoised, and
        what was removed from it put back in the recording's units (:func:`fluorodn.noise_change.unsteadied`)."""
        if fitted is None and not lit:
            mask, saturated = spectral.set_aside(arr)
            if not mask.all():
                out = np.array(arr, dtype=np.float32)
                lit_runs = [(a, b) for a, b, on in spectral.runs(mask) if on]
                rows = slice(*lit_runs[0]) if len(lit_runs) == 1 else mask  # a view where it can be
                y, messages = self._run_spectral(
                    arr[rows], progress, checks=checks, recording=recording, lit=True, index=np.arange(len(arr))[rows]
                )
                out[rows] = y
                if progress is not None:
                    progress(arr.size - y.size)
                return out, [*spectral.set_aside_messages(mask, saturated), *messages]
        if fitted is None and level is None and (read := noise_change.change(arr)) > noise_change.CHANGE:
            profile = noise_change.profile(arr)
            steady = noise_change.steadied(arr, profile)
            y, messages = self._run_spectral(
                steady, progress, checks=checks, recording=recording, lit=True, index=index, level=(profile, arr)
            )
            told = noise_change.message(read, profile, index)
            return noise_change.unsteadied(arr, steady, y, profile), [told, *messages]
        checks = checks and fitted is None
        if fitted is None:
            proj = spectral.project(arr, self.channels, fixed_pattern=not self.options.keep_fixed_pattern)
            coef, kept = self._traces_and_kept(proj, arr)
        else:
            proj, coef, kept = self._projected(arr, fitted)
        out, messages = self._spectral_out(
            arr, spectral.reconstruct(proj, coef), proj, checks, progress, recording, level
        )
        # what was done to some samples is said of every whole recording, as the samples set aside are
        if fitted is None and (brief := spectral.brief_message(kept, index)):
            messages.append(brief)
        return out, messages

    def _denoised_traces(self, proj: spectral.Projection, x: np.ndarray | None = None) -> np.ndarray:
        """(T, K) float32: the coefficient traces of ``proj`` (``proj.coef``) as the options have
        them denoised (noise-only components at their time means); with the recording's rows ``x``
        (T, W), sudden changes across the spectrum that the network took in part for noise kept as
        recorded (:func:`fluorodn.spectral.keep_brief`, :func:`fluorodn.spectral.across_spectrum`)."""
        return self._traces_and_kept(proj, x)[0]

    def _traces_and_kept(self, proj: spectral.Projection, x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(:meth:`_denoised_traces`, (T,) bool: the samples of sudden changes kept as recorded)."""
        signal = np.ones(proj.components, bool) if proj.signal is None else proj.signal
        if not self.options.filters_over_time:
            fill = np.zeros(proj.components) if proj.coef_mean is None else proj.coef_mean
            same = np.where(signal[None, :], proj.coef, fill.astype(np.float32)[None, :])
            return same, np.zeros(len(proj.coef), bool)
        net = self._net if self.options.strength == 1.0 else spectral.weakened(self._net, self.options.strength)
        window = max(4 * self.halo + 1, self.tile_pixels // 8)
        # on a long recording each trace's slow baseline stays out of the network, which sees
        # (and is scaled by) the trace's variation around it, as over its training recordings
        scale = proj.scale if proj.spread is None else proj.spread
        # a trace spreading wider than any in training is kept as it is: its noise is a tiny
        # share of it, and the network is not trusted there
        kept = signal & (scale > self.model_card.max_spread)
        active = signal & ~kept
        onsets = active & proj.sparse if proj.sparse is not None else None

        def denoise(coef_in: np.ndarray) -> np.ndarray:
            traces, base = coef_in, None
            if proj.spread is not None and active.any():
                base = spectral.baseline(coef_in[:, active], proj.baseline_samples).astype(np.float32)
                traces = coef_in.copy()
                traces[:, active] -= base

            def denoised(run: Callable[[np.ndarray], np.ndarray], which: np.ndarray) -> np.ndarray:
                return spectral.run_traces(
                    run, traces, scale, self.channels, self.halo, window,
                    signal=which, independent=self.model_card.shared, fill=proj.coef_mean,
                )  # fmt: skip

            coef = denoised(net, active)
            if self.options.keep_onsets and onsets is not None and onsets.any():
                weak = spectral.weakened(self._net, spectral.ONSET_STRENGTH * self.options.strength)
                coef = spectral.keep_onsets(coef, denoised(weak, onsets), onsets)
            if base is not None:
                coef[:, active] += base
            if kept.any():
                coef[:, kept] = coef_in[:, kept]
            return coef

        first = denoise(proj.coef)
        if x is None:
            return first, np.zeros(len(first), bool)

        def across(rows: np.ndarray) -> np.ndarray:
            return spectral.across_spectrum(x, proj.sigma, rows)

        return spectral.keep_brief(proj.coef, first, denoise, active, across)

    def _fitted_messages(
        self,
        shape: tuple[int, int],
        take: spectral.Take,
        proj: spectral.Projection,
        rows: np.ndarray,
        recording: bool = False,
        index: np.ndarray | None = None,
    ) -> list[str | None]:
        """The out-of-domain checks of one call, for a recording of ``shape`` (T, W) that is not
        denoised here whole (a dask array: :func:`fluorodn.dask.denoise` calls this on the client)
        and whose rows ``take(index)`` reads, with the projection ``proj`` fitted on it: its
        orientation, clipping among ``rows`` (the statistics rows the fit read), its brightness over
        noise, and what is removed from the rows the checks read
        (:func:`fluorodn.spectral.check_blocks`), each denoised here from rows around it as far as
        an output row depends on (the result of one call). Returns the messages, None for a check
        that found nothing; none about the orientation of a ``recording`` (known time x wavelength).
        ``index``: each row's sample index in the recording the messages name (None: its own)."""
        t, _ = shape
        messages = [
            None if recording else transposed_warning(shape, rows),
            few_samples_warning(t),
            clipping_warning(rows),
            spectral.pattern_message(proj),
            *self._event_cautions(proj),
        ]
        checks = self.metadata.get("domain_checks")
        if isinstance(checks, dict):
            reach = int(self.halo) + proj.baseline_samples // 2
            blocks = spectral.check_blocks(t)
            xs, outs, kept_rows = [], [], []
            for b in blocks:
                lo, hi = max(0, b.start - reach), min(t, b.stop + reach)
                around = np.asarray(take(slice(lo, hi)))
                # as run_projected, keeping which samples of sudden changes were kept as recorded
                rows_of = dataclasses.replace(proj, whole=False)
                part, denoised, kept = self._projected(check_input(around, ndims=(2,), pages=False), rows_of)
                out = spectral.reconstruct(part, denoised)
                inside = slice(b.start - lo, b.stop - lo)
                xs.append(around[inside])
                outs.append(out[inside])
                kept_rows.append(kept[inside])
            stats = spectral.removed_stats(np.concatenate(xs), np.concatenate(outs), proj, blocks)
            messages += measured_warnings(stats, checks, t)
            at = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
            read = len(at) if len(at) < t else None
            messages.append(spectral.brief_message(np.concatenate(kept_rows), at if index is None else index[at], read))
        return messages

    def _event_cautions(self, proj: spectral.Projection, x: np.ndarray | None = None) -> list[str]:
        """The cautions about events counted on this run's output of a recording with projection
        ``proj`` (:func:`fluorodn.spectral.event_cautions`); with the recording ``x`` (all its rows),
        fast hemodynamics found where its rows alternate between the levels of interleaved
        excitations are told as that (:func:`fluorodn.spectral.interleaved_message`)."""
        found: list[str] = list(spectral.event_cautions(proj, self.options.filters_over_time))
        fast = spectral.fast_hemodynamics_message(proj)
        if x is not None and fast is not None and (told := spectral.interleaved_message(x)):
            found = [told if m == fast else m for m in found]
        return found

    def _spectral_out(
        self,
        arr: np.ndarray,
        out: np.ndarray,
        proj: spectral.Projection,
        checks: bool,
        progress: Progress | None,
        recording: bool = False,
        level: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """``out`` and, if ``checks``, the messages of the out-of-domain checks of a whole recording
        ``arr`` (its orientation unless it is known, ``recording``; clipping; what was removed); the
        progress report. Of a steadied recording (``level``, as :meth:`_run_spectral`), orientation,
        clipping and the rows' alternation are read on the recording as given, and brightness over
        noise is judged at its noisiest and its quietest samples (:func:`fluorodn.noise_change.extremes`)."""
        messages: list[str | None] = []
        limits = self.metadata.get("domain_checks")
        if checks:
            given = arr if level is None else level[1]
            messages = [
                None if recording else transposed_warning(given.shape, given),
                few_samples_warning(arr.shape[0]),
                clipping_warning(given),
                spectral.pattern_message(proj),
                *self._event_cautions(proj, given),
            ]
            if isinstance(limits, dict):
                stats = spectral.removed_stats(arr, out, proj)
                if level is not None:
                    stats["snr"] = noise_change.extremes(stats["snr"], level[0], limits.get("snr"))
                messages += measured_warnings(stats, limits, arr.shape[0])
        if progress is not None:
            progress(arr.size)
        return out, [m for m in messages if m]

    # -- engine -----------------------------------------------------------------------

    def _flush(self, chunk: list[np.ndarray], progress: Progress | None) -> Iterator[np.ndarray]:
        outs = [np.empty(p.shape, dtype=np.float32) for p in chunk]
        self._denoise(chunk, [global_scale(p) for p in chunk], outs, progress)
        yield from outs

    def border_mode(self, shape: tuple[int, int], border: str | None = None) -> str:
        """How an (H, W) page's border is handled: ``border`` checked, or, if None, ``"zero"``
        for pages that look spectral and ``"mirror"`` for everything else (see :meth:`run`)."""
        if border is None:
            return "zero" if spectral.looks_spectral(tuple(shape)) else "mirror"
        if border not in ("mirror", "zero"):
            raise InputError(f'border must be "mirror" or "zero", got {border!r}')
        return border

    def plan(self, shape: tuple[int, int], border: str | None = None) -> TilePlan:
        """Tile plan used for an (H, W) page by the image model that denoises it: with a mirrored
        border (:meth:`border_mode`) it tiles the page extended by ``halo`` pixels on every side.
        A spectral Denoiser gives the plan of the image model it hands such pages to (a page it
        denoises itself, on the spectral path, is not tiled: its plan is its own model's)."""
        if self.kind != "image" and (runs := self._runs(tuple(shape))) is not self:
            return runs.plan(shape, border)
        pad = self.halo if self.border_mode(shape, border) == "mirror" else 0
        return plan_tiles((shape[0] + 2 * pad, shape[1] + 2 * pad), self.halo, budget=self.tile_pixels)

    def _denoise(
        self,
        pages: Sequence[np.ndarray],
        scales: Sequence[tuple[float, float]],
        outs: Sequence[np.ndarray],
        progress: Progress | None,
        border: str | None = None,
    ) -> None:
        """The image path (:func:`fluorodn._engine.denoise_pages`) with this model's plan and budget;
        with ``options.self_ensemble``, once per rotation and mirror image of the pages, averaged
        (pages a pixel budget at a time, so that the extra memory is one buffer of that size)."""
        mode = self.border_mode(pages[0].shape, border)  # of the page as given, for every orientation
        if not self.options.self_ensemble:
            denoise_pages(self._net, self.plan(pages[0].shape, mode), self.tile_pixels, pages, scales, outs, progress)
            return
        report = _shared(progress, len(_ORIENTATIONS))
        group = max(1, self.tile_pixels // pages[0].size)
        for first in range(0, len(pages), group):
            part = slice(first, first + group)
            bufs = [np.empty(p.shape, np.float32) for p in pages[part]]
            for k, orient in enumerate(_ORIENTATIONS):
                turned = [orient(p) for p in pages[part]]
                # written through the turned views, each result lands in its buffer the page's way up
                denoise_pages(self._net, self.plan(turned[0].shape, mode), self.tile_pixels, turned, scales[part],
                              [orient(b) for b in bufs], report)  # fmt: skip
                for out, buf in zip(outs[part], bufs, strict=True):
                    if k == 0:
                        out[...] = buf
                    else:
                        out += buf
            for out in outs[part]:
                out *= np.float32(1.0 / len(_ORIENTATIONS))


def _orientation(quarter_turns: int, mirrored: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A page turned by ``quarter_turns`` and, if ``mirrored``, flipped left to right, as a view."""

    def view(a: np.ndarray) -> np.ndarray:
        b = np.rot90(a, quarter_turns)
        return b[:, ::-1] if mirrored else b

    return view


#: The 8 rotations and mirror images of a page (the symmetries of the square), as views.
_ORIENTATIONS = tuple(_orientation(q, m) for m in (False, True) for q in range(4))


def _shared(progress: Progress | None, parts: int) -> Progress | None:
    """``progress`` for work done ``parts`` times over: it hears 1 / ``parts`` of every count."""
    if progress is None:
        return None
    heard = passed = 0

    def report(n: int) -> None:
        nonlocal heard, passed
        heard += n
        step = heard // parts - passed
        if step:
            passed += step
            progress(step)

    return report


def warning_category(message: str) -> type[UserWarning]:
    """The warning class of a message of the spectral path's checks: :class:`LightOffNotice` for a
    :class:`fluorodn.spectral.Notice`, :class:`NoiseChangeNotice` for a
    :class:`fluorodn.noise_change.NoiseChange`, :class:`EventDetectionWarning` for a
    :class:`fluorodn.spectral.EventCaution`, :class:`OutOfDomainWarning` otherwise."""
    if isinstance(message, spectral.Notice):
        return LightOffNotice
    if isinstance(message, noise_change.NoiseChange):
        return NoiseChangeNotice
    return EventDetectionWarning if isinstance(message, spectral.EventCaution) else OutOfDomainWarning


def _pages_of(pages: Any) -> Iterator[Any]:
    """An iterator over ``pages``, what :meth:`Denoiser.stream` takes; InputError for one 2D array
    (whose rows would be taken for pages) or anything that cannot be iterated."""
    if isinstance(pages, np.ndarray) and pages.ndim == 2:
        raise InputError(
            f"stream() takes an iterable of 2D pages, and this is one 2D array {pages.shape} (its rows would be "
            "the pages); use run(x), or stream([x])"
        )
    try:
        return iter(pages)
    except TypeError:
        raise InputError(
            f"stream() takes an iterable of 2D pages (a list, a generator, a 3D array), got {type(pages).__name__}"
        ) from None


def _caution_once(found: list[str], cautioned: bool) -> tuple[list[str], bool]:
    """The messages ``found`` on a page of a stack, less its caution about the events where one was
    given already (``cautioned``: it is given once), and whether one has been given now."""
    if cautioned:
        return [m for m in found if not isinstance(m, spectral.EventCaution)], True
    return found, any(isinstance(m, spectral.EventCaution) for m in found)


#: Ends an out-of-domain warning of the spectral path where the input's shape chose it: frames of that
#: shape (a tall microscopy page) would have been damaged by a model made for recordings.
DETECTED_PATH = (
    "; it was denoised as a time x wavelength recording, as its shape (or its rows) suggests: if it holds "
    "image frames, declare them: kind='image'"
)


def with_path(message: str, detected: bool) -> str:
    """``message`` of the spectral path's checks, ending with :data:`DETECTED_PATH` where the path was
    ``detected`` by the input's shape and it is an out-of-domain warning (not a notice, a caution about
    the events, saturated samples set aside or samples kept as recorded)."""
    if detected and warning_category(message) is OutOfDomainWarning and not isinstance(message, _PER_PAGE):
        return message + DETECTED_PATH
    return message


#: Out-of-domain messages of the spectral path about what it did to some samples (set aside as
#: saturated, kept as recorded): said of every page of a stack, they stop no checks.
_PER_PAGE = (spectral.Saturated, spectral.Kept)


def _warn_page(messages: list[str], page: int, depth: int, detected: bool = False) -> bool:
    """Each of ``messages`` about page index ``page`` of a stack (named from page 1 on) as its
    :func:`warning_category` pointing ``depth`` frames above this function's own; whether there
    were out-of-domain ones from the checks (saturated samples set aside and samples kept as
    recorded, named as the light-off notice is, stop no checks). ``detected``: the spectral path was
    chosen by the pages' shape, which each out-of-domain warning says (:data:`DETECTED_PATH`)."""
    where = f"page index {page}: " if page else ""
    for message in messages:
        warnings.warn(warning_category(message)(where + with_path(message, detected)), stacklevel=1 + depth)
    return any(warning_category(m) is OutOfDomainWarning and not isinstance(m, _PER_PAGE) for m in messages)


def _chain(first: np.ndarray, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _rebuilt(model: Any, device: str, options: DenoiserOptions, kind: str, sha256: str) -> Denoiser:
    """A pickled :class:`Denoiser` made again (:meth:`Denoiser.__reduce__`), from the same model file."""
    den = Denoiser(model, device, options, kind=kind)
    if den.sha256 != sha256:
        raise ModelError(
            f"model {den.name!r} ({den.path}) is not the file the pickled Denoiser ran (sha256 {sha256[:12]}, now "
            f"{den.sha256[:12]}): it changed in between; make the Denoiser again"
        )
    return den


def denoise(
    x: Any,
    model: str | os.PathLike[str] = "default",
    *,
    device: str = "auto",
    options: DenoiserOptions | None = None,
    precision: str | None = None,
    kind: str = "auto",
    scale: tuple[float, float] | None = None,
    recording: bool = False,
    rate: float | None = None,
) -> np.ndarray:
    """Denoise ``x`` ((H, W) or (pages, H, W), any real dtype) and return float32.

    A shortcut for ``Denoiser(model, device, options, precision=precision, kind=kind).run(x,
    scale=scale, recording=recording, rate=rate)``.

    >>> from fluorodn import denoise
    >>> clean = denoise(recording)    # (T, W) float32  # doctest: +SKIP

    It loads the model on every call; to denoise many arrays, create one :class:`Denoiser`
    and reuse it.
    """
    den = Denoiser(model, device=device, options=options, precision=precision, kind=kind)
    # warnings point at the caller of this function
    return den._run(x, scale, None, None, 2, recording=recording, rate=rate)
