"""Model registry: names, cards, integrity checks, user model files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fluorodn import Denoiser, ModelError, available_models
from fluorodn.registry import DEFAULT_MODEL, load_model, model_names, models_dir

REPO = Path(__file__).resolve().parents[2]


def test_default_is_the_image_model_where_no_spectral_model_ships(shipped: Path) -> None:
    assert DEFAULT_MODEL == "spectral"
    src = load_model("default")
    assert src.name == "low" and src.shipped and src.path == shipped / "low.onnx"
    dn = Denoiser(device="cpu")
    assert dn.name == "low" and dn.metadata["noise_scale"] == 0.3
    assert Denoiser("high", device="cpu").metadata["noise_scale"] == 0.8


def test_available_models_are_the_cards(shipped: Path) -> None:
    cards = available_models()
    assert [c["file"] for c in cards] == ["high.onnx", "low.onnx"]
    assert all(len(c["sha256"]) == 64 and c["halo"] == 5 for c in cards)
    assert model_names() == ["default", "high", "low"]


def test_unknown_name_lists_valid_names(shipped: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'medium'.*'default', 'high', 'low'"):
        Denoiser("medium")


def test_unknown_name_without_shipped_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fluorodn import registry

    monkeypatch.setattr(registry, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match="no models are shipped"):
        load_model("default")


def test_sha_mismatch_is_a_clear_error(shipped: Path) -> None:
    card_path = shipped / "low.json"
    card = json.loads(card_path.read_text())
    card["sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"'low' is corrupt.*reinstall fluorodn"):
        Denoiser("low")


def test_modified_model_file_is_detected(shipped: Path) -> None:
    with (shipped / "high.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="corrupt"):
        load_model("high")


def test_user_path_reads_embedded_metadata(tiny_model: Path) -> None:
    dn = Denoiser(str(tiny_model), device="cpu")
    assert dn.name == "tiny" and dn.halo == 5
    assert dn.sha256 == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert dn.metadata["normalization"] == "median-mad-dt-v1"


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        (False, "no 'fluorodn' metadata"),
        ("not json", "not valid JSON"),
        ('["a list"]', "not a JSON object"),
        ({"format": 2, "halo": 5, "name": "x", "normalization": "median-mad-dt-v1"}, "format 2"),
        ({"format": 1, "name": "x", "normalization": "median-mad-dt-v1"}, "'halo'"),
        ({"format": 1, "halo": -1, "name": "x", "normalization": "median-mad-dt-v1"}, "'halo'"),
        ({"format": 1, "halo": 5, "name": "x", "normalization": "zscore"}, "normalization 'zscore'"),
    ],
)
def test_user_model_with_bad_metadata(tmp_path: Path, helpers: Any, metadata: Any, match: str) -> None:
    path = helpers.build_model(tmp_path / "user.onnx", metadata=metadata)
    with pytest.raises(ModelError, match=match) as info:
        Denoiser(path, device="cpu")
    assert str(path) in str(info.value)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Denoiser(tmp_path / "nope.onnx")


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="cannot load"):
        Denoiser(path, device="cpu")


def test_source_checkout_falls_back_to_repo_models() -> None:
    folder = models_dir()
    if (REPO / "models").is_dir():
        assert folder is not None and folder.name == "models"


# -- the real shipped models (only where models/ holds them) ----------------------------

# float models (their reduced-precision variants, <name>.<precision>.onnx, are listed in their cards)
SHIPPED = sorted(p for p in (REPO / "models").glob("*.onnx") if "." not in p.stem) if (REPO / "models").is_dir() else []


@pytest.mark.skipif(not SHIPPED, reason="models/ holds no .onnx files yet (the trained models land later)")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_model_card_and_hash(path: Path) -> None:
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["file"] == path.name
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for field in ("format", "name", "halo", "normalization", "domain", "noise_scale", "opset", "depth", "width"):
        assert field in card, field
    expected = {"image": "median-mad-dt-v1", "spectral": "spectral-pca-v3"}[card.get("kind", "image")]
    assert card["normalization"] == expected
    assert card["halo"] >= card["depth"] - 1
    dn = Denoiser(path.stem, device="cpu", precision="fp32")
    assert dn.halo == card["halo"] and dn.sha256 == card["sha256"]
    for precision, entry in card.get("variants", {}).items():
        variant = path.with_name(entry["file"])
        assert entry["sha256"] == hashlib.sha256(variant.read_bytes()).hexdigest()
        assert entry["float_sha256"] == card["sha256"]
        dn = Denoiser(path.stem, device="cpu", precision=precision)
        assert dn.precision == precision and dn.sha256 == entry["sha256"] and dn.halo == card["halo"]


@pytest.mark.skipif(not (REPO / "models" / "low.json").is_file(), reason="models/low.json is not shipped yet")
def test_shipped_default_model_runs() -> None:
    import numpy as np

    x = np.random.default_rng(0).poisson(100, (64, 48)).astype(np.uint16)
    out = Denoiser(device="cpu").run(x)
    assert out.shape == x.shape and np.isfinite(out).all()
