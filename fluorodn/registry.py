"""The shipped models: where they are, what they are, and that they are intact.

Each shipped model is ``<name>.onnx`` plus a JSON card ``<name>.json`` holding the
model's metadata, its file name and the sha256 of the ONNX file. In an installed wheel
they live in ``fluorodn/models`` (found with :mod:`importlib.resources`); in a source
checkout the registry falls back to ``<repo>/models``.

A model can also be given as a path to any ``.onnx`` file carrying fluorodn metadata
(the ONNX metadata property ``fluorodn``, a JSON object).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fluorodn.errors import ModelError
from fluorodn.normalize import CONVENTION
from fluorodn.spectral import CONVENTION as SPECTRAL_CONVENTION

__all__ = [
    "DEFAULT_MODEL",
    "IMAGE_MODEL",
    "METADATA_KEY",
    "VARIANTS",
    "ModelSource",
    "available_models",
    "default_name",
    "load_model",
    "model_names",
    "model_variants",
    "models_dir",
    "validate_metadata",
]

#: The name ``"default"`` stands for this shipped model (spectral recordings) ...
DEFAULT_MODEL = "spectral"
#: ... and for this one on images (frames, stacks of pages).
IMAGE_MODEL = "low"
#: ONNX ``metadata_props`` key holding the model's JSON metadata.
METADATA_KEY = "fluorodn"
#: Metadata format version this runtime understands.
FORMAT = 1
#: Reduced-precision variants a shipped model may have beside its float32 file: entries of
#: its card's ``"variants"`` object, each with ``file``, ``sha256`` and the quality deltas
#: measured when it was built (``python -m fluorodn_train quantize``).
VARIANTS = ("int8", "bf16")


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
        path = Path(model).expanduser()
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist; give the path to an .onnx file")
        if variant is not None:
            raise ModelError(
                f"{path} is a model file, so it has no {variant} variant; pass the {variant} file itself "
                "(e.g. <name>.int8.onnx) with precision 'auto', or a shipped model name"
            )
        data = path.read_bytes()
        return ModelSource(path.stem, path, _sha256(data), False, None, data)

    directory = models_dir()
    cards = _cards(directory)
    name = default_name(cards) if model == "default" else str(model)
    if name not in cards:
        if not cards:
            where = directory if directory is not None else "fluorodn/models"
            raise ModelError(
                f"unknown model {model!r}: no models are shipped in {where}; pass the path to an .onnx file instead"
            )
        valid = ", ".join(repr(n) for n in model_names())
        raise ModelError(f"unknown model {model!r}; valid names are {valid}, or a path to an .onnx file")
    card = cards[name]
    assert directory is not None
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
    if not isinstance(meta.get("name"), str):
        raise ModelError(f"{where}: metadata field 'name' must be a string{_REEXPORT}")
    return dict(meta)
