"""Model integrity: a shipped model is checked against its card's sha256 at every load, and a
damaged model file or wrong metadata is a clear ModelError naming the file, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fluorodn import Denoiser, ModelError, registry

REPO = Path(__file__).resolve().parents[2]


def refused(model: Any, *fragments: str, **kw: Any) -> str:
    with pytest.raises(ModelError) as info:
        Denoiser(model, device="cpu", **kw)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_shipped_model_hash_is_checked_at_every_load(shipped: Path, helpers: Any) -> None:
    card = json.loads((shipped / "high.json").read_text())
    assert Denoiser("high", device="cpu").sha256 == card["sha256"]
    # a different, perfectly loadable model under the shipped name
    shutil.copyfile(shipped / "low.onnx", shipped / "high.onnx")
    refused("high", "'high' is corrupt or was replaced", "high.onnx", "reinstall fluorodn")
    # a truncated file
    helpers.build_model(shipped / "high.onnx", seed=1, name="high")
    data = (shipped / "high.onnx").read_bytes()
    (shipped / "high.onnx").write_bytes(data[:-1])
    refused("high", "'high' is corrupt", "reinstall fluorodn")
    # the card edited instead of the file
    (shipped / "high.onnx").write_bytes(data)
    card["sha256"] = "0" * 64
    (shipped / "high.json").write_text(json.dumps(card))
    refused("high", "'high' is corrupt", "high.json says 0000", "reinstall fluorodn")
    card.pop("sha256")
    (shipped / "high.json").write_text(json.dumps(card))
    refused("high", "says (nothing)", "reinstall fluorodn")


def test_real_shipped_models_are_intact_and_a_flipped_byte_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models in models/ match their cards; a copy with one byte changed is refused."""
    cards = sorted((REPO / "models").glob("*.json"))
    if not cards:
        pytest.skip("no shipped models in this checkout")
    copy = tmp_path / "models"
    copy.mkdir()
    for card_path in cards:
        card = json.loads(card_path.read_text())
        onnx_path = card_path.with_name(card["file"])
        assert registry._sha256(onnx_path.read_bytes()) == card["sha256"], onnx_path
        shutil.copyfile(card_path, copy / card_path.name)
        data = bytearray(onnx_path.read_bytes())
        data[len(data) // 2] ^= 0x01
        (copy / card["file"]).write_bytes(bytes(data))
    monkeypatch.setattr(registry, "models_dir", lambda: copy)
    for card_path in cards:
        refused(card_path.stem, f"'{card_path.stem}' is corrupt or was replaced", "reinstall fluorodn")


def test_reduced_precision_variant_hash_is_checked(shipped: Path) -> None:
    (shipped / "low.int8.onnx").write_bytes(b"not the int8 model")
    card = json.loads((shipped / "low.json").read_text())
    card["variants"] = {"int8": {"file": "low.int8.onnx", "sha256": "1" * 64, "speedup_measured": 2.0}}
    (shipped / "low.json").write_text(json.dumps(card))
    refused("low", "corrupt or was replaced", "low.int8.onnx", "reinstall fluorodn", precision="int8")


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_truncated_model_file(tmp_path: Path, tiny_model: Path, fraction: float) -> None:
    data = tiny_model.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    refused(path, str(path))


def test_model_file_of_garbage(tmp_path: Path) -> None:
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    refused(path, str(path), "export it again")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"halo": 7}, ["halo differs from its card", "reinstall fluorodn"]),
        ({"halo": None}, ["'halo'", "reinstall fluorodn"]),
        ({"normalization": "zscore-v0"}, ["normalization 'zscore-v0'", "matching fluorodn version"]),
        ({"format": 9}, ["metadata format 9", "upgrade fluorodn"]),
        ({"name": 3}, ["'name'", "reinstall fluorodn"]),
    ],
)
def test_wrong_metadata_in_a_shipped_card(shipped: Path, helpers: Any, change: dict, fragments: list[str]) -> None:
    meta = {**helpers.tiny_metadata("low"), **change}
    helpers.write_card(shipped / "low.onnx", {k: v for k, v in meta.items() if v is not None})
    refused("low", "low.onnx", *fragments)


def test_unreadable_card_and_missing_file(shipped: Path) -> None:
    (shipped / "high.json").write_text('{"file": "high.onnx", "sha256": ')
    with pytest.raises(ModelError, match=r"high\.json is not valid JSON.*reinstall fluorodn"):
        Denoiser("low", device="cpu")
    (shipped / "high.json").unlink()
    (shipped / "low.onnx").unlink()
    refused("low", "low.onnx", "reinstall fluorodn")


def test_embedded_metadata_of_a_user_model(tmp_path: Path, helpers: Any) -> None:
    """A model file given by path carries its own metadata: missing or wrong, it is refused."""
    missing = helpers.build_model(tmp_path / "none.onnx", metadata=False)
    refused(missing, str(missing), "no 'fluorodn' metadata", "fluorodn_train")
    listed = helpers.build_model(tmp_path / "list.onnx", metadata='["a", "list"]')
    refused(listed, str(listed), "not a JSON object", "fluorodn_train")
    negative = helpers.build_model(tmp_path / "neg.onnx", metadata=helpers.tiny_metadata(halo=-2))
    refused(negative, str(negative), "'halo'", "fluorodn_train")
