"""Exception types of fluorodn.

Library code raises these; only the command line turns them into one-sentence messages
and exit codes. Each message is meant to be shown to a user as it is: it names the
thing that is wrong and, where there is one, the fix.
"""

from __future__ import annotations

__all__ = [
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
]


class FluorodnError(Exception):
    """Base class of every error fluorodn raises on purpose."""


class InputError(FluorodnError, ValueError):
    """An argument given to fluorodn cannot be used: a value outside the accepted ones, an argument
    of the wrong type, or an array that is not finite real numbers within float32's range.

    A :class:`ValueError` too, so ``except ValueError`` catches it as it catches numpy's own.
    """


class ModelError(FluorodnError, ValueError):
    """A model name is unknown, a model file is missing, corrupt or lacks fluorodn metadata."""


class DeviceError(FluorodnError, RuntimeError):
    """The requested device (e.g. CUDA) cannot be used; fluorodn never falls back silently."""


class FileFormatError(FluorodnError, ValueError):
    """An input file cannot be read as a recording (format, shape, dtype or variable)."""


class OutputExistsError(FluorodnError, FileExistsError):
    """An output file exists already (and overwriting was not asked for) or would replace the input."""


class OutputError(FluorodnError, OSError):
    """An output file cannot be written: its folder is missing or read-only, or the disk is full."""


class OutOfDomainWarning(UserWarning):
    """An input lies outside what the model was trained for; the output may be damaged.

    The message names what is off (the noise level, or a removed component that is not
    noise-like: spectrally structured or correlated in time).
    """


class LightOffNotice(UserWarning):
    """Samples of a spectral recording were taken with the light off.

    Their rows are the detector's dark level and noise, not the spectrum: denoising returns them as
    recorded, and :func:`fluorodn.unmix` gives them no measurement (NaN); the lit samples are
    denoised (and unmixed) as one recording. The message says how many and where. Not an
    :class:`OutOfDomainWarning`: nothing was damaged.
    """


class NoiseChangeNotice(UserWarning):
    """The noise level of a spectral recording changes over time more than its light explains.

    Sessions joined, a spectrometer's gain or averaging changed, or bleaching divided out before
    denoising. Each part was denoised at its own noise level (:mod:`fluorodn.noise_change`); the
    message says how much the level changes and where. Not an :class:`OutOfDomainWarning`: the
    output was made for it; a parameter that changed mid-recording is worth knowing of.
    """


class EventDetectionWarning(UserWarning):
    """The recording has a property under which events counted on the denoised output fell below
    the raw recording's count in fluorodn's benchmarks (fast hemodynamics).

    The model was trained on such recordings, so this is not an :class:`OutOfDomainWarning`: the
    output is denoised as well as elsewhere, but an analysis of its events should be checked
    against the raw recording. The message names the property.
    """


class ModelChoiceWarning(UserWarning):
    """The model asked for is measurably worse on this input than the one fluorodn would choose.

    Raised when an image model denoises pages that look like spectral recordings: on those it
    lowers event detection below the raw recording's, which the spectral model does not. The
    message names the better choice and how to keep this one (declaring the input's kind).
    """
