"""The built wheel: its contents, and a fresh install that denoises with torch unimportable.

Runs offline: the wheel is built without build isolation (hatchling must be installed)
and installed with --no-deps into a fresh venv that sees the packages of the environment
running the tests (a virtual environment or the system interpreter alike), but not its
editable installs: fluorodn must come from the wheel.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

REPO = Path(__file__).resolve().parents[2]
MODELS = sorted((REPO / "models").glob("*.onnx")) if (REPO / "models").is_dir() else []
EXAMPLE = REPO / "fluorodn" / "data" / "example.tif"

pytestmark = pytest.mark.slow

SITECUSTOMIZE = """
import atexit, json, os, sys
sys.modules["torch"] = None  # any "import torch" now fails

def _report():
    mods = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("fluorodn", "onnxruntime")}
    mods["torch_loaded"] = sorted(k for k, v in sys.modules.items() if k.startswith("torch") and v is not None)
    with open(os.environ["FLUORODN_TEST_REPORT"], "a") as fh:
        fh.write(json.dumps(mods) + "\\n")

atexit.register(_report)
"""


def sh(*args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling installed")
    if not (REPO / "models").is_dir():
        pytest.skip("models/ does not exist: the wheel build force-includes it as fluorodn/models")
    dist = tmp_path_factory.mktemp("dist")
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, REPO)
    (built,) = dist.glob("fluorodn-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for module in ("__init__", "__main__", "cli/__init__", "denoiser", "io", "registry", "tiling", "normalize"):
        assert f"fluorodn/{module}.py" in names
    assert "fluorodn/py.typed" in names
    assert "fluorodn = fluorodn.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("train/", "tests/", "fluorodn_train/", "models/"))]
    for model in MODELS:  # float models and their reduced-precision variants
        assert f"fluorodn/models/{model.name}" in names
        if "." not in model.stem:  # a float model has a card, which lists its variants
            assert f"fluorodn/models/{model.stem}.json" in names
            card = json.loads((REPO / "models" / f"{model.stem}.json").read_text())
            for entry in card.get("variants", {}).values():
                assert f"fluorodn/models/{entry['file']}" in names
    if EXAMPLE.is_file():
        assert "fluorodn/data/example.tif" in names


def site_dirs() -> list[str]:
    """The folders this interpreter imports installed packages from (its venv's and, where the
    venv was made with --system-site-packages, the base interpreter's), in import order."""
    dirs = {*site.getsitepackages(), site.getusersitepackages()}
    return [p for p in sys.path if p in dirs and Path(p).is_dir()]


def fresh_venv(venv: Path) -> Path:
    """A venv (no pip) that imports, after its own site-packages, the packages this interpreter
    sees: a ``.pth`` file lists their folders. ``--system-site-packages`` would not do: from inside a
    venv it gives the base interpreter's packages, not the venv's. Lines of a ``.pth`` file are
    plain paths, so the ``.pth`` files in those folders (editable installs) are not run."""
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(purelib) / "_outer_environment.pth").write_text("\n".join(site_dirs()) + "\n")
    return python


def test_fresh_venv_sees_this_environment(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    code = "import sys, numpy, typer, onnxruntime, tifffile; print(sys.prefix)"
    out = sh(python, "-c", code, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
    assert Path(out.strip()).resolve() == (tmp_path / "venv").resolve()


def test_fresh_install_denoises_without_torch(wheel: Path, tmp_path: Path, tiny_model: Path, helpers: Any) -> None:
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    bindir = python.parent
    sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--ignore-installed",
       "--quiet", wheel)  # fmt: skip
    poison = tmp_path / "poison"
    poison.mkdir()
    (poison / "sitecustomize.py").write_text(SITECUSTOMIZE)
    report = tmp_path / "report.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(poison), FLUORODN_TEST_REPORT=str(report), COLUMNS="200")
    work = tmp_path / "work"
    work.mkdir()

    def fluorodn(*args: Any) -> subprocess.CompletedProcess[str]:
        return sh(bindir / "fluorodn", *args, cwd=work, env=env)

    assert fluorodn("--version").stdout.strip() == "fluorodn 0.1.0"
    model = ["--model", str(tiny_model)] if not MODELS else []
    tifffile.imwrite(work / "small.tif", helpers.spectra(64, 48), imagej=True, metadata={"Info": "smoke"})
    fluorodn("denoise", "small.tif", *model, "--threads", "1")
    out = tifffile.imread(work / "small_denoised.tif")
    assert out.shape == (64, 48) and out.dtype == np.float32 and np.isfinite(out).all()
    if EXAMPLE.is_file():
        fluorodn("example")
        fluorodn("denoise", "example.tif", *model)
        assert (work / "example_denoised.tif").is_file()
    if MODELS:
        listed = fluorodn("models").stdout
        assert all(m.stem in listed for m in MODELS if "." not in m.stem)

    runs = [json.loads(line) for line in report.read_text().splitlines()]
    assert runs, "the sitecustomize hook did not run"
    site = venv.resolve()
    for run in runs:
        assert run["torch_loaded"] == []
        if run["fluorodn"] is not None:
            assert Path(run["fluorodn"]).resolve().is_relative_to(site), run["fluorodn"]
    assert any(run["onnxruntime"] for run in runs)  # the denoise runs loaded onnxruntime ...
    assert runs[0]["onnxruntime"] is None  # ... but --version did not


def test_sdist_contents(tmp_path: Path) -> None:
    """The source distribution holds the package, its models and the documents the README links,
    and no tests (they import the repository's training and benchmark code, which it lacks)."""
    pytest.importorskip("build", reason="building the sdist offline needs build installed")
    pytest.importorskip("hatchling", reason="building the sdist offline needs hatchling installed")
    sh(sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", tmp_path, REPO)
    (built,) = tmp_path.glob("fluorodn-*.tar.gz")
    with tarfile.open(built) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert "fluorodn/denoiser.py" in names and "README.md" in names and "pyproject.toml" in names
    assert "docs/benchmarks.md" in names and any(n.startswith("models/") and n.endswith(".onnx") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "train/", "benchmarks/"))]
