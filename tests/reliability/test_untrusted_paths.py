"""Paths and arguments from elsewhere: an input is never replaced, whatever the spelling of either path;
an output name stays in its folder; counts and globs are bounded.

Every refusal is one sentence and exit code 1, with the folder byte-identical afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symbolic and hard links (POSIX)")


def write(path: Path) -> Path:
    """A small recording in the format of ``path``'s extension."""
    x = np.random.default_rng(0).poisson(100, (24, 20)).astype(np.uint16)
    if path.suffix == ".tif":
        tifffile.imwrite(path, x)
    elif path.suffix == ".npy":
        np.save(path, x)
    elif path.name.endswith("73.mat"):
        import h5py

        with h5py.File(path, "w", userblock_size=512) as f:
            f.create_dataset("spectra", data=x.T.astype(np.float64)).attrs["MATLAB_class"] = np.bytes_("double")
    else:
        import scipy.io

        scipy.io.savemat(path, {"spectra": x.astype(np.float64)})
    return path


FORMATS = ["a.tif", "a.npy", "a.mat", "a73.mat"]


def spellings(src: Path) -> dict[str, list[Any]]:
    """Argument lists that would all write over ``src`` (each with --overwrite)."""
    d = src.parent
    ext = "".join(src.suffixes)
    (d / f"link{ext}").symlink_to(src)
    os.link(src, d / f"hard{ext}")
    (d / "sub").mkdir()
    (d / "mirror").symlink_to(d, target_is_directory=True)
    return {
        "same_path": [src, "-o", src],
        "empty_suffix": [src, "--suffix", ""],
        "symlink_to_it": [src, "-o", d / f"link{ext}"],
        "through_a_symlink": [d / f"link{ext}", "-o", src],
        "dotdot": [src, "-o", d / "sub" / ".." / src.name],
        "hard_link": [src, "-o", d / f"hard{ext}"],
        "folder_link_and_empty_suffix": [src, "-o", d / "mirror", "--suffix", ""],
    }


SPELLINGS = [
    "same_path",
    "empty_suffix",
    "symlink_to_it",
    "through_a_symlink",
    "dotdot",
    "hard_link",
    "folder_link_and_empty_suffix",
]


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_input_is_never_overwritten(tmp_path: Path, tiny_model: Path, rel: Any, name: str, spelling: str) -> None:
    src = write(tmp_path / name)
    args = spellings(src)[spelling]
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", *args, "--overwrite", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, "its input")
    assert rel.snapshot(tmp_path) == before


def test_an_output_that_is_another_input_by_a_hard_link(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    a, b = write(tmp_path / "a.npy"), tmp_path / "b.npy"
    np.save(b, np.ones((8, 8), np.float32))
    os.link(b, tmp_path / "a_denoised.npy")  # a's output would be b's inode
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", a, b, "--overwrite", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, "another input")
    assert rel.snapshot(tmp_path) == before


# -- names and counts --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/../../escaped", "_x/y", "\\..\\x", "_\x00", "_a\nb"])
def test_a_suffix_never_leaves_the_folder(tmp_path: Path, tiny_model: Path, rel: Any, suffix: str) -> None:
    (tmp_path / "in").mkdir()
    src = write(tmp_path / "in" / "a.npy")
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", src, "--suffix", suffix, "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, "--suffix", "stays in its folder")
    assert rel.snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--threads", "--workers"])
@pytest.mark.parametrize("value", [0, -3, 10**6])
def test_counts_are_bounded(tmp_path: Path, tiny_model: Path, rel: Any, option: str, value: int) -> None:
    src = write(tmp_path / "a.npy")
    result = rel.cli("denoise", src, option, value, "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, option, "out of range")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_glob_through_a_symlink_loop_ends(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    """``**`` walks each real folder once: loops of links end, linked data folders are still found."""
    data = tmp_path / "data"
    (data / "day1").mkdir(parents=True)
    write(data / "day1" / "a.npy")
    (data / "day1" / "loop").symlink_to(data, target_is_directory=True)
    (data / "self").symlink_to(".", target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere / "b.npy")
    (data / "linked").symlink_to(elsewhere, target_is_directory=True)
    result = rel.cli("denoise", f"{data}/**/*.npy", "-o", tmp_path / "out", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_denoised.npy", "b_denoised.npy"]


def test_glob_files_matches_like_glob(tmp_path: Path) -> None:
    import glob

    from fluorodn.files import glob_files

    for rel_path in ("a.tif", "b.npy", ".hidden.tif", "x/c.tif", "x/y/d.tif", "x/.h/e.tif", "z.tif/f.tif"):
        (tmp_path / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel_path).write_bytes(b"")
    for pattern in ("*.tif", "**/*.tif", "x/**/*.tif", "*/*.tif", "**/c.tif", "x/*/d.tif", "[ab].*", "**", "?.npy"):
        want = sorted(Path(p) for p in glob.glob(str(tmp_path / pattern), recursive=True) if Path(p).is_file())
        assert glob_files(str(tmp_path / pattern)) == want, pattern
