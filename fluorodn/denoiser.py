"""The Denoiser: validate -> normalize -> tile -> session -> stitch -> denormalize.

One :class:`Denoiser` owns one ``onnxruntime.InferenceSession``. Providers are chosen
once, at construction; CPU is always the last provider, and the provider that actually
runs is logged and kept in ``Denoiser.provider``. :meth:`Denoiser.run` keeps no state
between calls (all buffers are local), so one instance can serve many threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fluorodn import spectral
from fluorodn.errors import DeviceError, ModelError, OutOfDomainWarning
from fluorodn.normalize import global_scale
from fluorodn.registry import (
    IMAGE_MODEL,
    METADATA_KEY,
    ModelSource,
    load_model,
    model_variants,
    validate_metadata,
)
from fluorodn.tiling import TilePlan, plan_tiles

__all__ = ["DEVICES", "KINDS", "PRECISIONS", "Denoiser", "DenoiserOptions", "denoise", "physical_cores"]

log = logging.getLogger("fluorodn")

#: Accepted values of ``device``.
DEVICES = ("auto", "cpu", "cuda")
#: Accepted values of ``kind``: what the input is. ``"auto"`` detects it per input
#: (:func:`fluorodn.spectral.looks_spectral`).
KINDS = ("auto", "spectral", "image")
#: Numeric precisions a model can run in; ``precision`` also accepts ``"auto"``: the
#: fastest variant shipped for the provider in use (int8 on the CPU where shipped, fp32 on CUDA).
PRECISIONS = ("fp32", "int8", "bf16")
#: Reduced-precision variants this runtime can run, with the providers that run them.
_RUNNABLE = {"int8": ("CPUExecutionProvider",)}
#: Why ``precision="bf16"`` is refused (measured; docs/precision.md).
BF16_UNAVAILABLE = (
    "precision 'bf16' is not available: onnxruntime's CPU provider has no bf16 arithmetic "
    "(onnxruntime issue #28768), and OpenVINO's bf16, about 2x faster on CPUs with AVX512-BF16 but slower "
    "than int8, lowered PSNR by 1-3.4 dB (the quality guard allows 0.1 dB); use 'fp32', or 'int8' where shipped"
)
#: Default pixel budget per network call on the CPU: peak RSS about 380 MiB on a 2048 x 2048
#: image (248 MiB at 2**18), and windows large enough that the halo costs only 8% there
#: (14% at 2**18); a 2048 x 152 page runs in one window.
CPU_TILE_PIXELS = 1 << 19
#: Default pixel budget per network call on CUDA.
CUDA_TILE_PIXELS = 1 << 22
#: Rows x cols checked for NaN/inf at a time (bounds the temporary boolean mask).
_CHECK_BLOCK = 1 << 22

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DenoiserOptions:
    """Settings of a :class:`Denoiser`; all have sensible defaults."""

    threads: int | None = None
    """CPU threads one call may use (onnxruntime intra-op); None: the physical cores available."""
    tile_pixels: int | None = None
    """Most pixels per network call (windows x rows x cols, halo included); None: 2**19 CPU, 2**22 CUDA."""
    cuda_device: int = 0
    """Index of the GPU used when running on CUDA."""
    precision: str = "auto"
    """fp32, int8 (the shipped quantized variant; CPU only), bf16, or auto (int8 on the CPU where shipped)."""

    def __post_init__(self) -> None:
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if self.tile_pixels is not None and (not isinstance(self.tile_pixels, int) or self.tile_pixels < 1):
            raise ValueError(f"tile_pixels must be a positive integer or None, got {self.tile_pixels!r}")
        if not isinstance(self.cuda_device, int) or self.cuda_device < 0:
            raise ValueError(f"cuda_device must be a non-negative integer, got {self.cuda_device!r}")
        if self.precision not in ("auto", *PRECISIONS):
            raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)}; got {self.precision!r}")


def physical_cores() -> int:
    """Physical CPU cores this process may run on (logical CPUs where that is unknown)."""
    try:
        allowed = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = set()
    logical = len(allowed) or os.cpu_count() or 1
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ValueError):
            cores = set()
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for block in fh.read().split("\n\n"):
                    fields = dict(
                        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in block.splitlines())
                    )
                    if "processor" not in fields or "core id" not in fields:
                        continue
                    if allowed and int(fields["processor"]) not in allowed:
                        continue
                    cores.add((fields.get("physical id", "0"), fields["core id"]))
            if cores:
                return min(len(cores), logical)
    return logical


_PRELOAD_LOCK = threading.Lock()
_PRELOADED = False


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def _preload_cuda(ort: Any) -> None:
    """Let onnxruntime-gpu find CUDA/cuDNN from pip packages (nvidia-*); once per process."""
    global _PRELOADED
    with _PRELOAD_LOCK:
        if _PRELOADED or not hasattr(ort, "preload_dlls"):
            return
        _PRELOADED = True
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                ort.preload_dlls()
        except Exception as err:  # pragma: no cover - depends on the GPU set-up
            log.debug("onnxruntime.preload_dlls failed: %s", err)
        if buf.getvalue().strip():
            log.debug("onnxruntime.preload_dlls: %s", buf.getvalue().strip())


class Denoiser:
    """DnCNN denoiser for spectral recordings, 2D images and stacks of 2D pages.

    Two paths run, by the kind of input:

    * **spectral** (a 2D time x wavelength recording): the recording is projected onto its
      leading spectral components (:mod:`fluorodn.spectral`), a 1D DnCNN denoises the
      coefficient traces over time, and the result is mapped back; every output value is
      informed by its sample's whole spectrum. Inputs outside the model's training domain
      raise an :class:`~fluorodn.errors.OutOfDomainWarning`.
    * **image** (microscopy frames, stacks of pages, anything without a spectral axis): the
      2D DnCNN on tiles with a halo.

    Parameters
    ----------
    model : ``"default"`` (the shipped spectral model for spectral recordings, and the
        shipped image model ``"low"`` for images), a shipped model's name, or a path to an
        ``.onnx`` file with fluorodn metadata.
    device : ``"auto"`` (CUDA where onnxruntime can use it, else CPU; the choice is
        logged), ``"cpu"``, or ``"cuda"`` (raises :class:`DeviceError` where CUDA is not
        usable; never falls back silently).
    options : :class:`DenoiserOptions` (threads, tile budget, GPU index, precision).
    precision : shortcut for ``options.precision`` (overrides it when given): ``"fp32"``,
        ``"int8"`` (the model's shipped int8 variant, run on the CPU; :class:`ModelError`
        if it has none), ``"bf16"`` (refused with :class:`DeviceError`: no provider here
        runs it faster), or ``"auto"`` (the fastest variant shipped for the provider in
        use: int8 on the CPU where the model has one, fp32 on CUDA).
    kind : ``"auto"`` (detect per input: a 2D array with 24-1024 columns and at least twice
        as many rows is spectral), ``"spectral"`` or ``"image"`` (declare it).

    Examples
    --------
    >>> den = Denoiser()                       # doctest: +SKIP
    >>> clean = den.run(recording)             # (T, W) float32, same shape  # doctest: +SKIP
    >>> frames = den.run(stack)                # (pages, H, W): image path  # doctest: +SKIP

    Attributes
    ----------
    name, sha256, metadata, halo : the model's name, hash of the file that runs, metadata and
        receptive-field radius.
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
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.declared_kind = kind
        if kind == "image" and model == "default":
            model = IMAGE_MODEL
        self._image_lock = threading.Lock()
        self._image_denoiser: Denoiser | None = None
        self.options = options or DenoiserOptions()
        if precision is not None:
            self.options = dataclasses.replace(self.options, precision=precision)
        self.device = device
        self.threads = self.options.threads or physical_cores()
        source, run_on = self._pick_source(model, device, self.options.precision)
        try:
            self._session = self._create_session(source.data, run_on)
        except ModelError as err:
            raise ModelError(f"{source.path}: {err}") from err
        self.provider: str = self._session.get_providers()[0]
        if self.options.precision == "auto" and source.variant is None and self.provider == "CPUExecutionProvider":
            faster = _fastest_cpu_variant(model, source)
            if faster is not source:  # CUDA was tried and is not usable: the CPU's fast variant
                source = faster
                self._session = self._create_session(source.data, "cpu")
                self.provider = self._session.get_providers()[0]
        self.path = source.path
        self.sha256 = source.sha256
        embedded = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if source.metadata is not None:
            self.metadata = source.metadata
            if embedded is not None:
                inner = validate_metadata(embedded, str(source.path))
                if inner.get("halo") != self.metadata["halo"]:
                    raise ModelError(f"{source.path}: its halo differs from its card; reinstall fluorodn")
        elif embedded is None:
            raise ModelError(
                f"{source.path} has no {METADATA_KEY!r} metadata property, so its receptive field and "
                "normalization are unknown; export it with fluorodn_train or add the metadata"
            )
        else:
            self.metadata = validate_metadata(embedded, str(source.path))
        self.precision: str = source.variant or str(self.metadata.get("precision", "fp32"))
        if self.options.precision not in ("auto", self.precision):
            raise ModelError(
                f"{source.path} is a model in {self.precision}, so it cannot run in {self.options.precision}; "
                "pass the matching file, a shipped model name, or precision 'auto'"
            )
        # a shipped model is called by its registry name, a user file by the name in its metadata
        self.name: str = source.name if source.shipped else str(self.metadata["name"])
        self.halo: int = int(self.metadata["halo"])
        self.kind: str = str(self.metadata.get("kind", "image"))
        if kind == "spectral" and self.kind != "spectral":
            raise ModelError(f"model {self.name!r} is an image model; kind 'spectral' needs a spectral model")
        if kind == "image" and self.kind != "image":
            raise ModelError(f"model {self.name!r} is a spectral model; kind 'image' needs an image model")
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        rank, want = (3, "(N, C, T)") if self.kind == "spectral" else (4, "(N, 1, H, W)")
        ok_rank = len(inputs) == 1 and len(inputs[0].shape) == rank
        channels = inputs[0].shape[1] if ok_rank else None  # an int, or a name/None if dynamic
        self.channels: int = int(self.metadata.get("channels", 1))
        if not ok_rank or len(outputs) != 1 or (isinstance(channels, int) and channels != self.channels):
            raise ModelError(
                f"{source.path}: expected one {want} input and one output, found inputs "
                f"{[i.shape for i in inputs]}; export the model with fluorodn_train"
            )
        self._input = inputs[0].name
        self._output = outputs[0].name
        self.tile_pixels = self.options.tile_pixels or (
            CUDA_TILE_PIXELS if self.provider == "CUDAExecutionProvider" else CPU_TILE_PIXELS
        )
        log.info(
            "model %s (%s, sha256 %s) runs on %s with %d threads",
            self.name,
            self.precision,
            self.sha256[:12],
            self.provider,
            self.threads,
        )

    def _pick_source(self, model: str | os.PathLike[str], device: str, precision: str) -> tuple[ModelSource, str]:
        """The model file for ``precision`` and the device to try first."""
        source = load_model(model)
        if precision == "bf16":
            raise DeviceError(BF16_UNAVAILABLE)
        if precision == "int8":
            if device == "cuda":
                raise DeviceError(
                    "precision 'int8' runs on the CPU only (onnxruntime's CPU provider has the int8 kernels); "
                    "use precision 'fp32' or 'auto' on CUDA, or device 'cpu'"
                )
            if source.shipped:
                source = load_model(model, variant="int8")
            return source, "cpu"
        if precision == "auto" and (device == "cpu" or "CUDAExecutionProvider" not in _ort().get_available_providers()):
            source = _fastest_cpu_variant(model, source)
        return source, device

    def _create_session(self, data: bytes, device: str) -> Any:
        ort = _ort()
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        available = ort.get_available_providers()
        self.cuda_available = "CUDAExecutionProvider" in available
        if device == "cuda" and not self.cuda_available:
            raise DeviceError(
                f"CUDA was requested but onnxruntime {ort.__version__} has no CUDA provider "
                f"(it has {', '.join(available)}); install onnxruntime-gpu with its CUDA libraries "
                "(pip install 'fluorodn[gpu]') or use device 'cpu'"
            )
        cpu: list[Any] = ["CPUExecutionProvider"]
        if device == "cpu" or not self.cuda_available:
            return self._session_or_model_error(ort, data, so, cpu)
        _preload_cuda(ort)
        providers = [("CUDAExecutionProvider", {"device_id": self.options.cuda_device}), *cpu]
        quiet = device == "auto"
        try:
            # "auto" on a machine without a usable GPU is normal: keep onnxruntime's own
            # error log quiet (it has no getter, so the default level 2 is restored after)
            if quiet:
                ort.set_default_logger_severity(4)
            with contextlib.redirect_stdout(io.StringIO()):
                session = ort.InferenceSession(data, sess_options=so, providers=providers, enable_fallback=0)
        except Exception as err:
            if device == "cuda":
                raise DeviceError(
                    f"CUDA was requested but could not be used ({_one_line(err)}); or use device 'cpu'"
                ) from err
            log.info("CUDA is not usable (%s); running on the CPU", err)
            return self._session_or_model_error(ort, data, so, cpu)
        finally:
            if quiet:
                ort.set_default_logger_severity(2)
        session.disable_fallback()
        if session.get_providers()[0] != "CUDAExecutionProvider":
            reason = (
                "onnxruntime-gpu could not load its CUDA provider (no NVIDIA GPU or driver, or the CUDA and "
                "cuDNN libraries it needs are missing: pip install 'fluorodn[gpu]')"
            )
            if device == "cuda":
                raise DeviceError(f"CUDA was requested but {reason}; or use device 'cpu'")
            log.info("%s; running on the CPU", reason)
        return session

    @staticmethod
    def _session_or_model_error(ort: Any, data: bytes, so: Any, providers: list[Any]) -> Any:
        try:
            session = ort.InferenceSession(data, sess_options=so, providers=providers)
        except Exception as err:
            raise ModelError(
                f"onnxruntime cannot load it ({_one_line(err)}); the file is damaged or not an ONNX model: "
                "export it again, or reinstall fluorodn if it is a shipped model"
            ) from err
        session.disable_fallback()
        return session

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
        return (
            f"Denoiser(model={self.name!r}, precision={self.precision!r}, provider={self.provider!r}, "
            f"halo={self.halo}, threads={self.threads})"
        )

    # -- public API -------------------------------------------------------------------

    def run(
        self,
        x: Any,
        *,
        scale: tuple[float, float] | None = None,
        progress: Progress | None = None,
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

        Returns
        -------
        (H, W) or (pages, H, W) float32 array: ``x - s * net((x - m) / s)``, where
        ``(m, s)`` is the global scale of each page.

        Examples
        --------
        >>> den = Denoiser()                                   # doctest: +SKIP
        >>> clean = den.run(np.load("session.npy"))            # (T, W) -> (T, W) float32  # doctest: +SKIP

        Raises
        ------
        ValueError : not 2D or more, empty, non-real dtype (bool, complex, object, str), or
            NaN/inf values.
        """
        arr = _check_input(x, ndims=(2, 3, 4, 5, 6))
        if arr.ndim > 3:  # (..., H, W): pages over the last two axes, as the command line reads files
            return self.run(arr.reshape(-1, *arr.shape[-2:]), scale=scale, progress=progress).reshape(arr.shape)
        path = self._path_for(arr.shape)
        if path == "spectral":
            if scale is not None:
                raise ValueError("scale=(m, s) applies to the image path only; spectral recordings are scaled per bin")
            return self._run_spectral(arr, progress)
        if path == "delegate":
            return self._image().run(arr, scale=scale, progress=progress)
        pages = [arr] if arr.ndim == 2 else list(arr)
        if scale is not None:
            if arr.ndim != 2:
                raise ValueError("scale=(m, s) is only accepted for a 2D input; stacks use one scale per page")
            scales = [_check_scale(scale)]
        else:
            scales = [global_scale(p) for p in pages]
        out = np.empty(arr.shape, dtype=np.float32)
        outs = [out] if arr.ndim == 2 else list(out)
        self._denoise(pages, scales, outs, progress)
        return out

    def stream(self, pages: Iterable[Any], *, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """Denoise 2D pages one after the other, yielding (H, W) float32 pages in order.

        Consecutive pages of equal shape are sent to the network together up to the
        pixel budget, so a long stack of small frames runs in few calls; at most that
        many pages are held at once. Each page uses its own global scale. When the model
        is spectral, the first page decides the path: spectral recordings run one by one,
        image pages go to the image model.
        """
        if self.kind == "spectral":
            yield from self._stream_spectral(iter(pages), progress)
            return
        chunk: list[np.ndarray] = []
        for k, page in enumerate(pages):
            try:
                arr = _check_input(page, ndims=(2,))
            except ValueError as err:
                raise ValueError(f"page index {k}: {err}") from err
            if chunk and (arr.shape != chunk[0].shape or (len(chunk) + 1) * arr.size > self.tile_pixels):
                yield from self._flush(chunk, progress)
                chunk = []
            chunk.append(arr)
        if chunk:
            yield from self._flush(chunk, progress)

    # -- spectral path ----------------------------------------------------------------

    def _path_for(self, shape: tuple[int, ...]) -> str:
        """ "image" (this image model), "spectral" (this spectral model) or "delegate" (the image model)."""
        if self.kind == "image":
            return "image"
        if len(shape) == 2 and (self.declared_kind == "spectral" or spectral.looks_spectral(shape)):
            return "spectral"
        if self.declared_kind == "spectral":
            raise ValueError(
                f"kind 'spectral' needs one 2D (time, wavelength) recording, got shape {shape}; "
                "denoise the pages one by one, or use kind 'image' for frames"
            )
        if self.declared_kind == "auto" and len(shape) == 2 and spectral.looks_spectral(shape[::-1]):
            warnings.warn(
                OutOfDomainWarning(
                    f"a {shape[0]} x {shape[1]} array looks like a spectral recording given as (wavelength, time); "
                    "it is denoised as an image: pass it transposed, or kind 'image' to silence this"
                ),
                stacklevel=4,
            )
        return "delegate"

    def _image(self) -> Denoiser:
        """The image model used for inputs a spectral model does not take (created once)."""
        with self._image_lock:
            if self._image_denoiser is None:
                self._image_denoiser = Denoiser(IMAGE_MODEL, device=self.device, options=self.options, kind="image")
            return self._image_denoiser

    def _stream_spectral(self, pages: Iterator[Any], progress: Progress | None) -> Iterator[np.ndarray]:
        first = next(pages, None)
        if first is None:
            return
        try:
            arr = _check_input(first, ndims=(2,))
        except ValueError as err:
            raise ValueError(f"page index 0: {err}") from err
        if self._path_for(arr.shape) == "delegate":
            yield from self._image().stream(_chain(arr, pages), progress=progress)
            return
        yield self._run_spectral(arr, progress)
        for k, page in enumerate(pages, start=1):
            try:
                arr = _check_input(page, ndims=(2,))
            except ValueError as err:
                raise ValueError(f"page index {k}: {err}") from err
            yield self._run_spectral(arr, progress)

    def run_projected(self, x: np.ndarray, projection: spectral.Projection) -> np.ndarray:
        """Denoise rows ``x`` (T, W) of a spectral recording with a projection fitted on the
        whole recording (:func:`fluorodn.spectral.fit`), e.g. one chunk of a dask array; no
        domain checks (they need the whole recording). Returns (T, W) float32."""
        if self.kind != "spectral":
            raise ModelError(f"model {self.name!r} is an image model; run_projected needs a spectral model")
        arr = _check_input(x, ndims=(2,))
        return self._run_spectral(arr, None, projection)

    def _run_spectral(
        self, arr: np.ndarray, progress: Progress | None, fitted: spectral.Projection | None = None
    ) -> np.ndarray:
        t, w = arr.shape
        if fitted is None and w > t:
            warnings.warn(
                OutOfDomainWarning(
                    f"the recording has more wavelength bins ({w}) than time samples ({t}): it looks transposed; "
                    "pass it as (time, wavelength)"
                ),
                stacklevel=3,
            )
        if fitted is None:
            proj = spectral.project(arr, self.channels)
        else:
            proj = dataclasses.replace(fitted, coef=spectral.coefficients(fitted, arr))

        def net(batch: np.ndarray) -> np.ndarray:
            (noise,) = self._session.run([self._output], {self._input: batch})
            return np.asarray(noise)

        window = max(4 * self.halo + 1, self.tile_pixels // 8)
        coef = spectral.run_traces(net, proj.coef, self.channels, self.halo, window)
        out = spectral.reconstruct(proj, coef)
        checks = self.metadata.get("domain_checks")
        if isinstance(checks, dict) and fitted is None:
            for message in spectral.domain_warnings(spectral.removed_stats(arr, out, proj), checks):
                warnings.warn(OutOfDomainWarning(message), stacklevel=3)
        if progress is not None:
            progress(arr.size)
        return out

    # -- engine -----------------------------------------------------------------------

    def _flush(self, chunk: list[np.ndarray], progress: Progress | None) -> Iterator[np.ndarray]:
        outs = [np.empty(p.shape, dtype=np.float32) for p in chunk]
        self._denoise(chunk, [global_scale(p) for p in chunk], outs, progress)
        yield from outs

    def plan(self, shape: tuple[int, int]) -> TilePlan:
        """Tile plan used for an (H, W) page."""
        return plan_tiles(shape, self.halo, budget=self.tile_pixels)

    def _denoise(
        self,
        pages: Sequence[np.ndarray],
        scales: Sequence[tuple[float, float]],
        outs: Sequence[np.ndarray],
        progress: Progress | None,
    ) -> None:
        """The image path: windows of each page (the network zero-pads at the page border, as in
        training), batched up to the pixel budget; the cores of the windows stitch exactly."""
        plan = self.plan(pages[0].shape)
        wr, wc = plan.window
        per_call = max(1, min(self.tile_pixels // plan.window_pixels, len(plan) * len(pages)))
        batch = np.empty((per_call, 1, wr, wc), dtype=np.float32)
        norm = np.empty((wr, wc), dtype=np.float64)
        pending: list[tuple[int, Any]] = []

        def flush() -> None:
            n = len(pending)
            (noise,) = self._session.run([self._output], {self._input: batch[:n]})
            done = 0
            for k, (p, tile) in enumerate(pending):
                _, s = scales[p]
                core = pages[p][tile.core]
                np.subtract(
                    core,
                    s * noise[k, 0][tile.inner].astype(np.float64),
                    out=norm[: core.shape[0], : core.shape[1]],
                )
                outs[p][tile.core] = norm[: core.shape[0], : core.shape[1]]
                done += core.size
            pending.clear()
            if progress is not None:
                progress(done)

        for p, page in enumerate(pages):
            m, s = scales[p]
            inv = 1.0 / s
            for tile in plan:
                win = page[tile.window]
                np.subtract(win, m, out=norm)
                norm *= inv
                batch[len(pending), 0] = norm
                pending.append((p, tile))
                if len(pending) == per_call:
                    flush()
        if pending:
            flush()


def _chain(first: np.ndarray, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _fastest_cpu_variant(model: str | os.PathLike[str], source: ModelSource) -> ModelSource:
    """The shipped variant of ``model`` measured fastest on the CPU, else ``source`` (fp32)."""
    if not source.shipped:
        return source
    best, best_speedup = None, 1.0
    for name, entry in model_variants(model).items():
        providers = entry.get("providers", ["CPUExecutionProvider"])
        speedup = entry.get("speedup_measured")
        if name not in _RUNNABLE or "CPUExecutionProvider" not in providers:
            continue
        if isinstance(speedup, (int, float)) and speedup > best_speedup:
            best, best_speedup = name, float(speedup)
    return source if best is None else load_model(model, variant=best)


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (onnxruntime's span several), at most 300 characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _check_input(x: Any, ndims: tuple[int, ...]) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(kind, str(arr.dtype))
        raise ValueError(f"expected an array of real numbers (ints or floats), got {what} dtype {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}D" for n in ndims)
        raise ValueError(f"expected a {want} array ((H, W) or (pages, H, W)), got {arr.ndim}D with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"expected a non-empty array, got shape {arr.shape}")
    if kind == "f":
        _check_finite(arr)
    return arr


def _check_finite(arr: np.ndarray) -> None:
    """Raise ValueError at the first NaN/inf, scanning in blocks so memory stays bounded."""
    pages = [arr] if arr.ndim == 2 else (arr[i] for i in range(arr.shape[0]))
    for p, page in enumerate(pages):
        step = max(1, _CHECK_BLOCK // page.shape[1])
        for r in range(0, page.shape[0], step):
            block = page[r : r + step]
            if not np.isfinite(block).all():
                i, j = (int(v) for v in np.argwhere(~np.isfinite(block))[0])
                where = (r + i, j) if arr.ndim == 2 else (p, r + i, j)
                raise ValueError(
                    f"input contains NaN or infinite values (first at index {where}); "
                    "replace them first, e.g. with np.nan_to_num"
                )


def _check_scale(scale: Any) -> tuple[float, float]:
    try:
        m, s = (float(v) for v in scale)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scale must be a pair (m, s) of numbers, got {scale!r}") from err
    if not (np.isfinite(m) and np.isfinite(s) and s > 0):
        raise ValueError(f"scale (m, s) must be finite with s > 0, got {scale!r}")
    return m, s


def denoise(
    x: Any,
    model: str | os.PathLike[str] = "default",
    *,
    device: str = "auto",
    options: DenoiserOptions | None = None,
    scale: tuple[float, float] | None = None,
    precision: str | None = None,
    kind: str = "auto",
) -> np.ndarray:
    """Denoise ``x`` ((H, W) or (pages, H, W), any real dtype) and return float32.

    A shortcut for ``Denoiser(model, device, options, precision=precision, kind=kind).run(x, scale=scale)``.

    >>> from fluorodn import denoise
    >>> clean = denoise(recording)    # (T, W) float32  # doctest: +SKIP

    It loads the model on every call; to denoise many arrays, create one :class:`Denoiser`
    and reuse it.
    """
    return Denoiser(model, device=device, options=options, precision=precision, kind=kind).run(x, scale=scale)
