"""The shipped models: where they are, what they are, and that they are intact.

Each shipped model is ``<name>.onnx`` plus a JSON card ``<name>.json`` holding the
model's metadata, its file name and the sha256 of the ONNX file. In an installed wheel
they live in ``fluorodn/models`` (found with :mod:`importlib.resources`); in a source
checkout the registry falls back to ``<repo>/models``.

A model can also be given as a path to any ``.onnx`` file carrying fluorodn metadata
(the ONNX metadata property ``fluorodn``, a JSON object).

:func:`resolve` decides, in one place, which file runs for a requested precision and
device and which execution providers are tried; :class:`ModelCard` is the typed card of
the model that runs, built from its JSON card or its ONNX metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fluorodn.errors import DeviceError, InputError, ModelError
from fluorodn.normalize import CONVENTION
from fluorodn.precision import REFUSED, RUNNABLE, VARIANTS, Precision, check_precision
from fluorodn.spectral import CONVENTION as SPECTRAL_CONVENTION

__all__ = [
    "AUTO_MIN_SPEEDUP",
    "DEFAULT_MODEL",
    "IMAGE_MODEL",
    "METADATA_KEY",
    "VARIANTS",
    "ModelCard",
    "ModelSource",
    "Resolution",
    "available_models",
    "check_model",
    "default_name",
    "load_model",
    "model_names",
    "model_variants",
    "models_dir",
    "resolve",
    "validate_metadata",
]

#: The name ``"default"`` stands for this shipped model (spectral recordings) ...
DEFAULT_MODEL = "spectral"
#: ... and for this one on images (frames, stacks of pages).
IMAGE_MODEL = "low"
#: ONNX ``metadata_props`` key holding the model's JSON metadata.
METADATA_KEY = "fluorodn"
#: ``precision="auto"`` runs a variant on the CPU only where the quantize command's guard
#: measured it at least this much faster than the float model: the float model is the one the
#: quality benchmarks measure, and a smaller gain is within the spread of the guard's timings
#: (the spectral model's int8 variant read 1.10x and 1.15x in two guard runs,
#: ``benchmarks/results/spectral_int8_guard_runs.json``).
AUTO_MIN_SPEEDUP = 1.5
#: Metadata format version this runtime understands.
FORMAT = 1
#: Execution providers by name.
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


@dataclass(frozen=True)
class ModelSource:
    """A model file read into memory, checked, with its metadata.

    ``data`` are the bytes of the ONNX file (hashed and loaded from the same bytes, so
    the file cannot change in between). ``metadata`` is the card of a shipped model,
    ``None`` for a user file until the session has been created and its ONNX metadata
    read (:func:`validate_metadata`).
    """

    name: str
    path: Path
    sha256: str
    shipped: bool
    metadata: dict[str, Any] | None
    data: bytes = field(repr=False)
    variant: str | None = None
    """The reduced-precision variant read (e.g. ``"int8"``), None for the float32 file."""


def _repo_models() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root / "models"
    return None


def models_dir() -> Path | None:
    """Folder of the shipped models: ``fluorodn/models`` in a wheel, else ``<repo>/models``."""
    try:
        packaged = Path(str(resources.files("fluorodn") / "models"))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - exotic importers
        packaged = None
    if packaged is not None and packaged.is_dir():
        return packaged
    return _repo_models()


def _cards(directory: Path | None) -> dict[str, dict[str, Any]]:
    if directory is None or not directory.is_dir():
        return {}
    cards = {}
    for path in sorted(directory.glob("*.json")):
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelError(f"model card {path} is not valid JSON ({err}); reinstall fluorodn") from err
        if isinstance(card, dict) and "file" in card:
            cards[path.stem] = card
    return cards


def available_models() -> list[dict[str, Any]]:
    """The JSON cards of the shipped models, sorted by name (empty if none are shipped)."""
    return [dict(card) for _, card in sorted(_cards(models_dir()).items())]


def model_names() -> list[str]:
    """Names accepted by :func:`load_model`: ``"default"`` and the shipped models."""
    names = sorted(_cards(models_dir()))
    return ["default", *names] if DEFAULT_MODEL in names or IMAGE_MODEL in names else names


def default_name(cards: dict[str, Any] | None = None) -> str:
    """The shipped model ``"default"`` names: the spectral model, or the image model where
    no spectral model is shipped (an installation that ships image models only)."""
    cards = _cards(models_dir()) if cards is None else cards
    return DEFAULT_MODEL if DEFAULT_MODEL in cards or IMAGE_MODEL not in cards else IMAGE_MODEL


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_like_path(model: str | os.PathLike[str]) -> bool:
    if isinstance(model, os.PathLike):
        return True
    return model.lower().endswith(".onnx") or "/" in model or os.sep in model


def _model_file(model: str | os.PathLike[str]) -> Path:
    """The ``.onnx`` file a path names; ModelError where it is a folder or no file."""
    path = Path(model).expanduser()
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not an .onnx file; give the path to the model's .onnx file")
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give the path to an .onnx file")
    return path


def _shipped(model: str | os.PathLike[str]) -> tuple[Path, str, dict[str, Any]]:
    """(models folder, name, card) of the shipped model ``model`` names (``"default"`` included);
    ModelError where none is shipped under that name. Reads the cards, no model file."""
    directory = models_dir()
    cards = _cards(directory)
    name = default_name(cards) if model == "default" else str(model)
    if name in cards and directory is not None:
        return directory, name, cards[name]
    if not cards:
        where = directory if directory is not None else "fluorodn/models"
        raise ModelError(
            f"unknown model {model!r}: no models are shipped in {where}; pass the path to an .onnx file instead"
        )
    valid = ", ".join(repr(n) for n in model_names())
    raise ModelError(f"unknown model {model!r}; valid names are {valid}, or a path to an .onnx file")


def check_model(model: str | os.PathLike[str] = "default") -> None:
    """Refuse ``model`` as :func:`load_model` would before reading it (ModelError): a path that is
    a folder or no file, a name no shipped model has. Reads no model file."""
    _model_file(model) if _looks_like_path(model) else _shipped(model)


def load_model(model: str | os.PathLike[str] = "default", variant: str | None = None) -> ModelSource:
    """Find a model by name or path, read it and check its integrity.

    Parameters
    ----------
    model : ``"default"`` (the shipped spectral model, see :func:`default_name`), a shipped model's name, or
        a path to an ``.onnx`` file with fluorodn metadata.
    variant : None for the float32 file, or one of :data:`VARIANTS` for the shipped
        model's reduced-precision file of that kind (listed in its card).

    Raises
    ------
    ModelError (a ValueError) : unknown name (the message lists the valid names), missing
        file, a shipped file whose sha256 differs from its card, or a variant the model
        does not have.
    """
    if _looks_like_path(model):
        path = _model_file(model)
        if variant is not None:
            raise ModelError(
                f"{path} is a model file, so it has no {variant} variant; pass the {variant} file itself "
                "(e.g. <name>.int8.onnx) with precision 'auto', or a shipped model name"
            )
        data = path.read_bytes()
        return ModelSource(path.stem, path, _sha256(data), False, None, data)

    directory, name, card = _shipped(model)
    entry: dict[str, Any] = card
    if variant is not None:
        entry = _variant_entry(name, card, variant)
    path = directory / str(entry["file"])
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelError(f"model {name!r}: cannot read {path} ({err}); reinstall fluorodn") from err
    digest = _sha256(data)
    expected = str(entry.get("sha256", "")).lower()
    if digest != expected:
        raise ModelError(
            f"model {name!r} is corrupt or was replaced: sha256 of {path.name} is {digest[:16]}..., "
            f"its card {name}.json says {expected[:16] or '(nothing)'}...; reinstall fluorodn"
        )
    metadata = validate_metadata(card, str(path))
    if variant is not None:
        metadata["precision"] = variant
    return ModelSource(name, path, digest, True, metadata, data, variant)


def model_variants(model: str | os.PathLike[str] = "default") -> dict[str, dict[str, Any]]:
    """The reduced-precision variants of a shipped model: ``{"int8": {file, sha256, ...}}``.

    Empty for a model file given by path and for a shipped model without variants. Each
    entry holds what ``python -m fluorodn_train quantize`` measured when it built the
    file: ``psnr_delta_db``, ``coherence_delta``, ``speedup_measured``, ``providers``.
    """
    if _looks_like_path(model):
        return {}
    name = default_name() if model == "default" else str(model)
    return _variants_of(_cards(models_dir()).get(name, {}))


def _variants_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    variants = card.get("variants")
    if not isinstance(variants, dict):
        return {}
    return {k: dict(v) for k, v in variants.items() if k in VARIANTS and isinstance(v, dict) and "file" in v}


def _variant_entry(name: str, card: dict[str, Any], variant: str) -> dict[str, Any]:
    if variant not in VARIANTS:
        raise ModelError(f"unknown variant {variant!r}; variants are {', '.join(VARIANTS)}")
    entry = _variants_of(card).get(variant)
    if entry is None:
        have = ", ".join(["fp32", *_variants_of(card)])
        raise ModelError(f"model {name!r} has no {variant} variant (it ships {have}); use precision 'fp32' or 'auto'")
    float_sha = entry.get("float_sha256")
    if float_sha is not None and str(float_sha).lower() != str(card.get("sha256", "")).lower():
        raise ModelError(
            f"the {variant} variant of model {name!r} ({entry['file']}) was built from another float model "
            f"than {card['file']}; rebuild it with: python -m fluorodn_train quantize models/{card['file']}"
        )
    return entry


_REEXPORT = "; export the model again with fluorodn_train (or reinstall fluorodn if it is a shipped model)"


def validate_metadata(meta: Any, where: str) -> dict[str, Any]:
    """Check a fluorodn metadata object; return it as a dict.

    Raises ModelError naming ``where`` if a required field is missing or unusable, or if
    the model's normalization convention is not the one this runtime implements.
    """
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError as err:
            raise ModelError(f"{where}: its {METADATA_KEY!r} metadata is not valid JSON ({err}){_REEXPORT}") from err
    if not isinstance(meta, dict):
        raise ModelError(f"{where}: its {METADATA_KEY!r} metadata is not a JSON object{_REEXPORT}")
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise ModelError(
            f"{where}: metadata format {fmt!r} is not supported (this fluorodn reads format {FORMAT}); "
            "upgrade fluorodn or re-export the model"
        )
    halo = meta.get("halo")
    if not isinstance(halo, int) or isinstance(halo, bool) or halo < 0:
        raise ModelError(f"{where}: metadata field 'halo' must be a non-negative integer, got {halo!r}{_REEXPORT}")
    kind = meta.get("kind", "image")
    if kind not in ("image", "spectral"):
        raise ModelError(f"{where}: metadata field 'kind' must be 'image' or 'spectral', got {kind!r}{_REEXPORT}")
    norm, implemented = meta.get("normalization"), SPECTRAL_CONVENTION if kind == "spectral" else CONVENTION
    if norm != implemented:
        raise ModelError(
            f"{where}: the model expects normalization {norm!r} but this fluorodn implements "
            f"{implemented!r} for {kind} models; use a matching fluorodn version"
        )
    if kind == "spectral":
        channels = meta.get("channels")
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ModelError(f"{where}: metadata field 'channels' must be a positive integer{_REEXPORT}")
        if not isinstance(meta.get("shared", False), bool):
            raise ModelError(f"{where}: metadata field 'shared' must be true or false{_REEXPORT}")
        spread = meta.get("max_spread")
        if spread is not None and (isinstance(spread, bool) or not isinstance(spread, (int, float)) or not spread > 0):
            raise ModelError(f"{where}: metadata field 'max_spread' must be a positive number{_REEXPORT}")
    if not isinstance(meta.get("name"), str):
        raise ModelError(f"{where}: metadata field 'name' must be a string{_REEXPORT}")
    return dict(meta)


@dataclass(frozen=True)
class ModelCard:
    """What the runtime reads of a model's metadata, checked; ``raw`` holds all of it
    (e.g. ``domain_checks``, ``noise_scale``, ``version``)."""

    name: str
    kind: str
    """``"image"`` (a 2D DnCNN on pages) or ``"spectral"`` (a 1D DnCNN on spectral coefficient traces)."""
    halo: int
    """Receptive-field radius of the network, in samples."""
    channels: int
    """Input channels of the network (spectral components; 1 for an image model)."""
    precision: str
    normalization: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    shared: bool = False
    """Spectral: the network denoises each coefficient trace on its own (one network for every
    trace), so traces may be packed into its channels in any order."""
    max_spread: float = float("inf")
    """Spectral: the largest spread (``Projection.scale``) of a trace the network is given; a
    trace spreading wider than any the network was trained on is kept as it is."""

    @classmethod
    def from_metadata(cls, meta: Any, where: str) -> ModelCard:
        """The card of a metadata object (a dict or its JSON text); ModelError naming ``where``
        if it is unusable (:func:`validate_metadata`)."""
        return cls._of(validate_metadata(meta, where))

    @classmethod
    def _of(cls, raw: dict[str, Any]) -> ModelCard:
        return cls(
            name=str(raw["name"]),
            kind=str(raw.get("kind", "image")),
            halo=int(raw["halo"]),
            channels=int(raw.get("channels", 1)),
            precision=str(raw.get("precision", "fp32")),
            normalization=str(raw["normalization"]),
            raw=raw,
            shared=raw.get("shared", False) is True,
            max_spread=float(raw.get("max_spread", float("inf"))),
        )


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve` decided: the model file to load first, and the execution
    providers to try, in order (the CPU always last).

    ``strict``: CUDA was asked for, so a CUDA provider that cannot be used is an error,
    never a reason to fall back to the CPU. Where CUDA is tried but not usable (``device="auto"``),
    the CPU runs :meth:`on_cpu`, which may be a faster variant than ``source``.
    """

    model: str | os.PathLike[str]
    precision: str
    source: ModelSource
    providers: tuple[str, ...]
    strict: bool = False

    def on_cpu(self) -> ModelSource:
        """The file the CPU runs when CUDA was tried and is not usable."""
        if self.precision == Precision.auto and self.source.variant is None:
            return fastest_cpu_variant(self.model, self.source)
        return self.source

    def card(self, source: ModelSource, embedded: str | None) -> ModelCard:
        """The card of ``source`` as loaded, with ``embedded`` its ONNX metadata (None if it has none).

        A shipped model's JSON card must agree with the metadata in its ONNX file; a user
        file needs that metadata. A file in another precision than the one asked for (other
        than ``"auto"``) is refused. Raises ModelError.
        """
        if source.metadata is not None:
            if embedded is not None:
                inner = validate_metadata(embedded, str(source.path))
                if inner.get("halo") != source.metadata["halo"]:
                    raise ModelError(f"{source.path}: its halo differs from its card; reinstall fluorodn")
            card = ModelCard._of(source.metadata)
        elif embedded is None:
            raise ModelError(
                f"{source.path} has no {METADATA_KEY!r} metadata property, so its receptive field and "
                "normalization are unknown; export it with fluorodn_train or add the metadata"
            )
        else:
            card = ModelCard.from_metadata(embedded, str(source.path))
        precision = source.variant or card.precision
        if self.precision not in (Precision.auto, precision):
            raise ModelError(
                f"{source.path} is a model in {precision}, so it cannot run in {self.precision}; "
                "pass the matching file, a shipped model name, or precision 'auto'"
            )
        return card


def resolve(
    model: str | os.PathLike[str] = "default",
    precision: str = "auto",
    device: str = "auto",
    providers: Sequence[str] = (CPU,),
) -> Resolution:
    """Decide which file of ``model`` runs in ``precision`` on ``device``, and which providers are tried.

    Parameters
    ----------
    model : as for :func:`load_model`.
    precision : ``"auto"`` (the fastest variant shipped for the provider in use: the
        CPU's measured fastest, fp32 on CUDA), ``"fp32"``, ``"int8"`` (the shipped int8
        variant, CPU only; a model file given by path runs as it is), or ``"bf16"``
        (refused, :data:`fluorodn.precision.REFUSED`).
    device : ``"auto"`` (CUDA where ``providers`` has it, else the CPU), ``"cpu"`` or ``"cuda"``.
    providers : the execution providers onnxruntime has (whether they work or not).

    Raises
    ------
    ModelError : as :func:`load_model`. InputError : a refused precision. DeviceError : int8 on CUDA.
    """
    precision = check_precision(precision)
    source = load_model(model)
    if precision in REFUSED:  # a value no run of this runtime takes, whatever the device
        raise InputError(REFUSED[precision])
    cpu_only, cuda = (CPU,), (CUDA, CPU)
    if precision == Precision.int8:
        if device == "cuda":
            raise DeviceError(
                "precision 'int8' runs on the CPU only (onnxruntime's CPU provider has the int8 kernels); "
                "use precision 'fp32' or 'auto' on CUDA, or device 'cpu'"
            )
        if source.shipped:
            source = load_model(model, variant="int8")
        return Resolution(model, precision, source, cpu_only)
    if device == "cuda":
        return Resolution(model, precision, source, cuda, strict=True)
    if device == "cpu" or CUDA not in providers:
        if precision == Precision.auto:
            source = fastest_cpu_variant(model, source)
        return Resolution(model, precision, source, cpu_only)
    return Resolution(model, precision, source, cuda)


def fastest_cpu_variant(model: str | os.PathLike[str], source: ModelSource) -> ModelSource:
    """The shipped variant of ``model`` measured fastest on the CPU, at least
    :data:`AUTO_MIN_SPEEDUP` times the float model's speed, else ``source`` (fp32)."""
    if not source.shipped:
        return source
    best, best_speedup = None, AUTO_MIN_SPEEDUP
    for name, entry in model_variants(model).items():
        runs_on = entry.get("providers", [CPU])
        speedup = entry.get("speedup_measured")
        if name not in RUNNABLE or CPU not in runs_on:
            continue
        if isinstance(speedup, (int, float)) and speedup >= best_speedup:
            best, best_speedup = name, float(speedup)
    return source if best is None else load_model(model, variant=best)
