"""The backend: one onnxruntime ``InferenceSession`` per model, built from a :class:`~fluorodn.registry.Resolution`.

:func:`open_session` builds the session of the resolved file on the resolved providers.
With ``device="auto"`` and no NVIDIA driver, CUDA is not tried. Where CUDA is tried and
turns out not usable, the CPU runs the file the resolution picks for it: the session
onnxruntime already built on the CPU in the try when that is the same file, else one
session of the CPU's file. A request for CUDA never falls back to the CPU.
onnxruntime is imported when a session is first built.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from fluorodn.errors import DeviceError, ModelError
from fluorodn.registry import CPU, CUDA, METADATA_KEY, ModelSource, Resolution

__all__ = [
    "Session",
    "available_providers",
    "embedded_metadata",
    "io_names",
    "open_session",
    "physical_cores",
    "thread_limit",
]

log = logging.getLogger("fluorodn")

_PRELOAD_LOCK = threading.Lock()
_PRELOADED = False
#: Why a CUDA provider that onnxruntime has does not run.
_NO_CUDA = (
    "onnxruntime-gpu could not load its CUDA provider (no NVIDIA GPU or driver, or the CUDA and "
    "cuDNN libraries it needs are missing: pip install 'fluorodn[gpu]')"
)


@dataclass(frozen=True)
class Session:
    """A built session: the onnxruntime session, the file it runs, and whether onnxruntime has
    a CUDA provider at all (usable or not)."""

    session: Any
    source: ModelSource
    cuda_available: bool

    @property
    def provider(self) -> str:
        """The execution provider that runs the model."""
        return str(self.session.get_providers()[0])


def _ort() -> Any:
    """The onnxruntime module; DeviceError where it is broken (no ``InferenceSession``), as one of
    onnxruntime and onnxruntime-gpu, which write the same files, leaves it when uninstalled beside
    the other."""
    import onnxruntime

    if not hasattr(onnxruntime, "InferenceSession"):
        raise DeviceError(
            "onnxruntime is installed only in part (onnxruntime and onnxruntime-gpu share its files, and "
            "uninstalling one breaks the other); reinstall it: pip install --force-reinstall onnxruntime-gpu "
            "(or onnxruntime where no GPU wheel exists)"
        )
    return onnxruntime


def ort_packages() -> list[str]:
    """The onnxruntime packages installed (onnxruntime-gpu, onnxruntime): more than one is a broken
    set-up, since they write the same files and the last installed wins."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("onnxruntime-gpu", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            version(name)
            found.append(name)
    return found


def available_providers() -> list[str]:
    """The execution providers this onnxruntime has (whether they can be used or not)."""
    return list(_ort().get_available_providers())


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


def thread_limit() -> int:
    """Most intra-op threads a session takes: 4 x the CPUs (more would only exhaust the machine),
    as the command line's ``--threads`` takes."""
    return 4 * (os.cpu_count() or 1)


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


def _cuda_driver() -> bool:
    """Whether the NVIDIA driver's CUDA library loads in this process; without it no CUDA
    provider runs, so ``device="auto"`` goes to the CPU without building a session to find out."""
    import ctypes

    for name in ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (onnxruntime's span several), at most 300 characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


def open_session(resolution: Resolution, *, threads: int, cuda_device: int = 0) -> Session:
    """Build the session that runs ``resolution`` with ``threads`` intra-op threads.

    Raises DeviceError where CUDA was asked for and cannot be used, ModelError (naming the
    file) where onnxruntime cannot load the model.
    """
    ort = _ort()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    available = ort.get_available_providers()
    cuda_available = CUDA in available
    source = resolution.source
    if resolution.strict and not cuda_available:
        raise DeviceError(
            f"CUDA was requested but onnxruntime {ort.__version__} has no CUDA provider "
            f"(it has {', '.join(available)}); install onnxruntime-gpu with its CUDA libraries "
            "(pip install 'fluorodn[gpu]') or use device 'cpu'"
        )
    try_cuda = resolution.providers[0] == CUDA and cuda_available
    if try_cuda and not resolution.strict and not _cuda_driver():
        log.info("%s; running on the CPU", _NO_CUDA)
        try_cuda, source = False, resolution.on_cpu()
    if not try_cuda:
        return Session(_cpu_session(ort, source, so), source, cuda_available)
    _preload_cuda(ort)
    providers = [(CUDA, {"device_id": cuda_device}), CPU]
    try:
        # onnxruntime's own log stays quiet while CUDA is tried (it has no getter, so its default
        # level 2 is restored after, whatever a caller had set): where CUDA cannot be used, "auto"
        # runs on the CPU and says so in the log, "cuda" raises DeviceError with the reason in one sentence
        ort.set_default_logger_severity(4)
        with contextlib.redirect_stdout(io.StringIO()):
            session = ort.InferenceSession(source.data, sess_options=so, providers=providers, enable_fallback=0)
    except Exception as err:
        if resolution.strict:
            raise DeviceError(
                f"CUDA was requested but could not be used ({_one_line(err)}); or use device 'cpu'"
            ) from err
        log.info("CUDA is not usable (%s); running on the CPU", err)
        on_cpu = resolution.on_cpu()
        return Session(_cpu_session(ort, on_cpu, so), on_cpu, cuda_available)
    finally:
        ort.set_default_logger_severity(2)
    session.disable_fallback()
    if session.get_providers()[0] != CUDA:
        if resolution.strict:
            raise DeviceError(f"CUDA was requested but {_NO_CUDA}; or use device 'cpu'")
        log.info("%s; running on the CPU", _NO_CUDA)
        on_cpu = resolution.on_cpu()
        if on_cpu is not source:  # the CPU runs another file (a faster variant) than the one CUDA was tried with
            return Session(_cpu_session(ort, on_cpu, so), on_cpu, cuda_available)
    return Session(session, source, cuda_available)


def _cpu_session(ort: Any, source: ModelSource, so: Any) -> Any:
    try:
        session = ort.InferenceSession(source.data, sess_options=so, providers=[CPU])
    except Exception as err:
        raise ModelError(
            f"{source.path}: onnxruntime cannot load it ({_one_line(err)}); the file is damaged or not an ONNX "
            "model: export it again, or reinstall fluorodn if it is a shipped model"
        ) from err
    session.disable_fallback()
    return session


def embedded_metadata(session: Any) -> str | None:
    """The fluorodn metadata property of the model a session runs (JSON text), None if it has none."""
    value = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return None if value is None else str(value)


def io_names(session: Any, kind: str, channels: int, where: str) -> tuple[str, str]:
    """The names of the one input and one output of a session running a ``kind`` model with
    ``channels`` traces (a spectral model's input holds each trace and its level:
    ``fluorodn.spectral.network_input``); ModelError where its layout is another."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    rank, want = (3, "(N, 2C, T)") if kind == "spectral" else (4, "(N, 1, H, W)")
    expected = 2 * channels if kind == "spectral" else channels
    ok_rank = len(inputs) == 1 and len(inputs[0].shape) == rank
    found = inputs[0].shape[1] if ok_rank else None  # an int, or a name/None if dynamic
    if not ok_rank or len(outputs) != 1 or (isinstance(found, int) and found != expected):
        raise ModelError(
            f"{where}: expected one {want} input and one output, found inputs "
            f"{[i.shape for i in inputs]}; export the model with fluorodn_train"
        )
    return inputs[0].name, outputs[0].name
