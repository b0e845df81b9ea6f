"""fluorodn: DnCNN denoising of fluorescence recordings, run with ONNX Runtime.

>>> from fluorodn import Denoiser
>>> dn = Denoiser()                 # spectral recordings: the spectral model; frames: "low"
>>> clean = dn.run(recording)       # (T, W) or (pages, H, W), any real dtype -> float32

Importing fluorodn is cheap and has no side effects: numpy and onnxruntime are imported
when the names that need them are first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "DarkLevelNotice",
    "Denoiser",
    "DenoiserOptions",
    "DeviceError",
    "EventDetectionWarning",
    "FileFormatError",
    "FluorodnError",
    "InputError",
    "LightOffNotice",
    "ModelChoiceWarning",
    "ModelError",
    "NoiseChangeNotice",
    "OutOfDomainWarning",
    "OutputError",
    "OutputExistsError",
    "UnmixError",
    "UnmixResult",
    "UnmixWarning",
    "__version__",
    "available_models",
    "denoise",
    "unmix",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fluorodn")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0.1.0+unknown"


__version__: str = _version()

_LAZY = {
    "Denoiser": "fluorodn.denoiser",
    "DenoiserOptions": "fluorodn.denoiser",
    "denoise": "fluorodn.denoiser",
    "available_models": "fluorodn.registry",
    "DeviceError": "fluorodn.errors",
    "EventDetectionWarning": "fluorodn.errors",
    "FileFormatError": "fluorodn.errors",
    "FluorodnError": "fluorodn.errors",
    "InputError": "fluorodn.errors",
    "LightOffNotice": "fluorodn.errors",
    "ModelChoiceWarning": "fluorodn.errors",
    "ModelError": "fluorodn.errors",
    "NoiseChangeNotice": "fluorodn.errors",
    "OutOfDomainWarning": "fluorodn.errors",
    "OutputError": "fluorodn.errors",
    "OutputExistsError": "fluorodn.errors",
    "DarkLevelNotice": "fluorodn.unmixing",
    "UnmixError": "fluorodn.unmixing",
    "UnmixResult": "fluorodn.unmixing",
    "UnmixWarning": "fluorodn.unmixing",
    "unmix": "fluorodn.unmixing",
}

if TYPE_CHECKING:
    from fluorodn.denoiser import Denoiser, DenoiserOptions, denoise
    from fluorodn.errors import (
        DeviceError,
        EventDetectionWarning,
        FileFormatError,
        FluorodnError,
        InputError,
        LightOffNotice,
        ModelChoiceWarning,
        ModelError,
        NoiseChangeNotice,
        OutOfDomainWarning,
        OutputError,
        OutputExistsError,
    )
    from fluorodn.registry import available_models
    from fluorodn.unmixing import DarkLevelNotice, UnmixError, UnmixResult, UnmixWarning, unmix


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fluorodn' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names only (not the helpers this module imports for itself)."""
    return sorted(__all__)
