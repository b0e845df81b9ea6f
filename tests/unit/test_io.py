"""Readers, writers, atomic output and input discovery."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, FileFormatError, OutputExistsError
from fluorodn import io as fio

PROV = {"fluorodn": "test", "model": "tiny", "model_sha256": "ab" * 32}


def roundtrip(dn: Denoiser, src: Path, dest: Path, dtype: str = "float32", **kw: Any) -> Path:
    with contextlib.closing(fio.open_recording(src, key=kw.pop("key", None))) as rec:
        out_dtype = fio.output_dtype(rec.dtype, dtype)
        pages = fio.cast_pages(dn.stream(rec.pages()), out_dtype)
        return fio.write_denoised(rec, dest, pages, dtype=out_dtype, provenance=PROV, **kw)


# -- npy -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(50, 30), (3, 20, 30), (2, 2, 20, 30)])
def test_npy_roundtrip(denoiser: Denoiser, tmp_path: Path, helpers: Any, shape: tuple[int, ...]) -> None:
    x = helpers.spectra(int(np.prod(shape[:-1])), shape[-1]).reshape(shape)
    np.save(tmp_path / "x.npy", x)
    rec = fio.open_recording(tmp_path / "x.npy")
    assert not isinstance(next(rec.pages()), np.memmap)  # read, never mapped (see test_truncation.py)
    rec.close()
    out = np.load(roundtrip(denoiser, tmp_path / "x.npy", tmp_path / "y.npy"))
    assert out.shape == shape and out.dtype == np.float32
    expected = denoiser.run(x.reshape(-1, *shape[-2:])).reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_npy_same_dtype_rounds_and_clips(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(40, 20)
    np.save(tmp_path / "x.npy", x)
    out = np.load(roundtrip(denoiser, tmp_path / "x.npy", tmp_path / "y.npy", dtype="same"))
    assert out.dtype == np.uint16
    ref = denoiser.run(x)
    np.testing.assert_array_equal(out, np.clip(np.rint(ref), 0, 65535).astype(np.uint16))


@pytest.mark.parametrize(
    ("array", "match"), [(np.arange(5.0), "2 or more"), (np.zeros((3, 3), dtype=complex), "complex")]
)
def test_npy_unusable(tmp_path: Path, array: np.ndarray, match: str) -> None:
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(FileFormatError, match=match):
        fio.open_recording(tmp_path / "x.npy")


def test_npy_object_array_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="object data"):
        fio.open_recording(tmp_path / "x.npy")


# -- MATLAB ----------------------------------------------------------------------------


def test_mat_v5_keeps_variables_and_adds_the_denoised_one(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import scipy.io

    x = helpers.spectra(60, 25).astype(np.float64)
    variables = {"spectra": x, "fs": 5.0, "note": "mouse 3", "wl": np.arange(25.0)}
    scipy.io.savemat(tmp_path / "r.mat", variables)
    assert fio.open_recording(tmp_path / "r.mat").key == "spectra"  # scalars and vectors are not picked
    scipy.io.savemat(tmp_path / "two.mat", {**variables, "dark": x[:5]})
    with pytest.raises(FileFormatError, match=r"several arrays \(dark, spectra\).*key=\.\.\."):
        fio.open_recording(tmp_path / "two.mat")
    roundtrip(denoiser, tmp_path / "r.mat", tmp_path / "o.mat", key="spectra", var_name="spectra_denoised")
    out = scipy.io.loadmat(tmp_path / "o.mat")
    np.testing.assert_array_equal(out["spectra"], x)
    assert out["note"][0] == "mouse 3" and out["fs"][0, 0] == 5.0
    assert out["spectra_denoised"].dtype == np.float32
    np.testing.assert_allclose(out["spectra_denoised"], denoiser.run(x), rtol=1e-6)
    assert json.loads(str(out["fluorodn_provenance"][0]))["model"] == "tiny"


def test_mat_v5_keeps_logical_variables_and_compression(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    """A logical mask stays logical (loadmat reads it as uint8, which MATLAB would take for indices),
    and a file saved compressed, as MATLAB saves, is written compressed; one saved plain stays plain."""
    import scipy.io

    from fluorodn._mat import _compressed

    x = helpers.spectra(60, 25).astype(np.float64)
    for compressed in (True, False):
        src, dest = tmp_path / f"r{compressed}.mat", tmp_path / f"o{compressed}.mat"
        scipy.io.savemat(src, {"spectra": x, "mask": np.array([[True, False, True]]), "n": np.uint8(3)},
                         do_compression=compressed)  # fmt: skip
        roundtrip(denoiser, src, dest, key="spectra", var_name="spectra_denoised")
        classes = {name: cls for name, _, cls in scipy.io.whosmat(dest)}
        assert classes["mask"] == "logical" and classes["n"] == "uint8" and classes["spectra"] == "double"
        np.testing.assert_array_equal(scipy.io.loadmat(dest)["mask"], [[1, 0, 1]])
        assert _compressed(src) == _compressed(dest) == compressed


def test_mat_v5_3d_pages_are_last(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import scipy.io

    stack = np.stack([helpers.spectra(30, 20, seed=s) for s in range(3)], axis=-1)  # MATLAB (H, W, N)
    scipy.io.savemat(tmp_path / "s.mat", {"stack": stack})
    roundtrip(denoiser, tmp_path / "s.mat", tmp_path / "o.mat", dtype="same")
    out = scipy.io.loadmat(tmp_path / "o.mat")["stack_denoised"]
    assert out.shape == stack.shape and out.dtype == np.uint16
    ref = np.clip(np.rint(denoiser.run(stack[:, :, 1])), 0, 65535)
    np.testing.assert_array_equal(out[:, :, 1], ref)


def test_mat_bad_key(tmp_path: Path) -> None:
    import scipy.io

    scipy.io.savemat(tmp_path / "r.mat", {"a": np.ones((5, 5)), "txt": "hello"})
    with pytest.raises(FileFormatError, match=r"no variable 'b' \(its variables: a, txt\)"):
        fio.open_recording(tmp_path / "r.mat", key="b")
    with pytest.raises(FileFormatError, match=r"'txt'.*not a 2D or 3D array"):
        fio.open_recording(tmp_path / "r.mat", key="txt")
    assert fio.open_recording(tmp_path / "r.mat").key == "a"


def test_mat_v5_struct_field_is_picked_by_key_or_alone(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import scipy.io

    x = helpers.spectra(60, 25).astype(np.float64)
    scipy.io.savemat(tmp_path / "r.mat", {"rec": {"spectra": x, "wl": np.arange(25.0), "fs": 5.0}})
    for key in (None, "rec.spectra", "rec/spectra"):  # the only matrix of the file's structs, or named
        assert fio.open_recording(tmp_path / "r.mat", key=key).key == "rec.spectra"
    with pytest.raises(FileFormatError, match=r"'rec' .* is a struct \(its fields: rec\.spectra, rec\.wl, rec\.fs\)"):
        fio.open_recording(tmp_path / "r.mat", key="rec")
    with pytest.raises(FileFormatError, match=r"no field 'rec\.nope' \(the fields of rec: rec\.spectra"):
        fio.open_recording(tmp_path / "r.mat", key="rec.nope")
    roundtrip(denoiser, tmp_path / "r.mat", tmp_path / "o.mat", key="rec.spectra", var_name="rec.spectra_denoised")
    out = scipy.io.loadmat(tmp_path / "o.mat")
    np.testing.assert_array_equal(out["rec"]["spectra"][0, 0], x)  # the struct kept as it was
    np.testing.assert_allclose(out["rec_spectra_denoised"], denoiser.run(x), rtol=1e-6)
    scipy.io.savemat(tmp_path / "two.mat", {"rec": {"spectra": x, "dark": x[:5]}})
    with pytest.raises(FileFormatError, match=r"several arrays in its structs \(rec\.dark, rec\.spectra\)"):
        fio.open_recording(tmp_path / "two.mat")


def test_mat_v73_struct_field(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import h5py

    x = helpers.spectra(70, 33)
    write_v73(tmp_path / "r.mat", {})
    with h5py.File(tmp_path / "r.mat", "r+") as f:
        group = f.create_group("rec")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        group.create_dataset("spectra", data=x.T).attrs["MATLAB_class"] = np.bytes_("double")
    rec = fio.open_recording(tmp_path / "r.mat")
    assert rec.key == "rec.spectra" and rec.page_shape == (70, 33)
    np.testing.assert_array_equal(next(iter(rec.pages())), x)
    with pytest.raises(FileFormatError, match=r"'rec' .* is a struct \(its fields: rec\.spectra\)"):
        fio.open_recording(tmp_path / "r.mat", key="rec")
    roundtrip(denoiser, tmp_path / "r.mat", tmp_path / "o.mat", key="rec.spectra", var_name="rec.spectra_denoised")
    with h5py.File(tmp_path / "o.mat") as f:
        np.testing.assert_allclose(f["rec_spectra_denoised"][()].T, denoiser.run(x), rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(f["rec/spectra"][()].T, x)


def write_v73(path: Path, variables: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file as MATLAB writes it: HDF5, 512-byte header, column-major order."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            if value.dtype.kind == "U":
                data = np.frombuffer(str(value).encode("utf-16-le"), np.uint16).reshape(-1, 1)
                d = f.create_dataset(name, data=data)
                d.attrs["MATLAB_class"] = np.bytes_("char")
                d.attrs["MATLAB_int_decode"] = np.int32(2)
            else:
                d = f.create_dataset(name, data=value.T)
                d.attrs["MATLAB_class"] = np.bytes_({"float64": "double", "uint16": "uint16"}[value.dtype.name])
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2026 HDF5 schema 1.00 ."
    with path.open("r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")


def test_mat_v73_roundtrip(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import h5py

    x = helpers.spectra(70, 33)
    write_v73(tmp_path / "r.mat", {"counts": x, "wl": np.arange(33.0)[None, :], "who": np.array("mouse 3")})
    roundtrip(denoiser, tmp_path / "r.mat", tmp_path / "o.mat", key="counts")
    assert (tmp_path / "o.mat").read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(tmp_path / "o.mat", "r") as f:
        np.testing.assert_array_equal(f["counts"][()].T, x)
        assert f["counts_denoised"].attrs["MATLAB_class"] == b"single"
        np.testing.assert_allclose(f["counts_denoised"][()].T, denoiser.run(x), rtol=1e-6)
        assert "wl" in f and "who" in f
        text = f["fluorodn_provenance"][()].ravel().astype(np.uint16).tobytes().decode("utf-16-le")
        assert json.loads(text)["model"] == "tiny"


@pytest.mark.parametrize("v73", [False, True])
def test_mat_output_never_replaces_a_variable_of_the_input(
    denoiser: Denoiser, tmp_path: Path, helpers: Any, v73: bool
) -> None:
    """An input that holds ``<key><suffix>`` already (an earlier output, or the user's own variable):
    refused before any page is denoised, nothing written; another suffix writes beside it."""
    import scipy.io

    x = helpers.spectra(60, 25).astype(np.float64)
    variables = {"spectra": x, "spectra_denoised": np.arange(3.0)[None, :]}
    if v73:
        write_v73(tmp_path / "r.mat", variables)
    else:
        scipy.io.savemat(tmp_path / "r.mat", variables)
    taken: list[int] = []

    def pages() -> Any:
        for page in denoiser.stream(rec.pages()):
            taken.append(1)
            yield page

    with (
        contextlib.closing(fio.open_recording(tmp_path / "r.mat", key="spectra")) as rec,
        pytest.raises(OutputExistsError, match=r"holds a variable spectra_denoised already.*suffix=\.\.\."),
    ):
        fio.write_denoised(rec, tmp_path / "o.mat", pages(), dtype=np.dtype(np.float32), provenance=PROV,
                           var_name="spectra_denoised")  # fmt: skip
    assert taken == [] and not (tmp_path / "o.mat").exists()
    roundtrip(denoiser, tmp_path / "r.mat", tmp_path / "o.mat", key="spectra", var_name="spectra_dn")


def test_an_output_denoised_again_is_told_by_the_variable_or_dataset_picked(
    denoiser: Denoiser, tmp_path: Path, helpers: Any
) -> None:
    """A .mat output (v5 or v7.3) holds its input's variables beside the denoised one: only the
    denoised one picked is 'denoised already'; an HDF5 output's denoised datasets are where its
    input's were: those it denoised are, others not. The v7.3 record is read too."""
    import warnings

    import h5py
    import scipy.io

    from fluorodn._file_pipeline import denoised_already
    from fluorodn.files import FileSettings, denoise_file

    x = helpers.spectra(70, 33).astype(np.float64)
    scipy.io.savemat(tmp_path / "v5.mat", {"counts": x})
    write_v73(tmp_path / "v73.mat", {"counts": x})
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["Channel1"], f["Channel2"] = x, x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model on spectral-looking pages
        for name in ("v5", "v73"):
            denoise_file(denoiser, tmp_path / f"{name}.mat", tmp_path / f"{name}_d.mat", FileSettings(key="counts"))
        denoise_file(denoiser, tmp_path / "r.h5", tmp_path / "r_d.h5", FileSettings(key="Channel2"))
    for name in ("v5", "v73"):
        out = tmp_path / f"{name}_d.mat"
        assert denoised_already(out, "counts") is None and denoised_already(out, "counts_denoised") is not None
        assert denoised_already(tmp_path / f"{name}.mat", "counts") is None
    out = tmp_path / "r_d.h5"
    assert denoised_already(out, "Channel1") is None and denoised_already(out, "/Channel2")["model"] == "tiny"
    from fluorodn.errors import OutOfDomainWarning

    with pytest.warns(OutOfDomainWarning, match="the file was denoised by fluorodn already"):
        result = denoise_file(denoiser, tmp_path / "v73_d.mat", tmp_path / "again.mat",
                              FileSettings(key="counts_denoised"))  # fmt: skip
    assert result.provenance["source_provenance"]["variable"] == "counts_denoised"
    # the raw variable of an output denoised again: no warning, but the chain stays on record, and the
    # variable the first run denoised is still told
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        warnings.filterwarnings("ignore", "the image model")  # the tiny model on spectral-looking pages
        result = denoise_file(denoiser, tmp_path / "v5_d.mat", tmp_path / "k1.mat",
                              FileSettings(key="counts", suffix="_k1"))  # fmt: skip
    assert result.provenance["source_provenance"]["variable"] == "counts_denoised"
    for name, told in (("counts", False), ("counts_denoised", True), ("counts_k1", True)):
        assert (denoised_already(tmp_path / "k1.mat", name) is not None) == told, name


def test_mat_v73_stack(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import h5py

    stack = np.stack([helpers.spectra(30, 20, seed=s).astype(np.float64) for s in range(3)], axis=-1)
    write_v73(tmp_path / "s.mat", {"movie": stack})
    rec = fio.open_recording(tmp_path / "s.mat")
    assert rec.n_pages == 3 and rec.page_shape == (30, 20)
    rec.close()
    roundtrip(denoiser, tmp_path / "s.mat", tmp_path / "o.mat")
    with h5py.File(tmp_path / "o.mat", "r") as f:
        out = f["movie_denoised"][()].T
    np.testing.assert_allclose(out[:, :, 2], denoiser.run(stack[:, :, 2]), rtol=1e-6)


def test_mat_v73_without_matlab_classes_says_to_read_it_as_hdf5(tmp_path: Path, helpers: Any) -> None:
    """An HDF5 file named .mat whose arrays lack the class MATLAB writes is named for what it is,
    with or without key=..., and reads as HDF5 under an .h5 name."""
    import h5py

    x = helpers.spectra(40, 20)
    with h5py.File(tmp_path / "h.mat", "w", userblock_size=512) as f:
        f.create_dataset("spectra", data=x)
    with (tmp_path / "h.mat").open("r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")
    for key in (None, "spectra"):
        with pytest.raises(FileFormatError, match=r"'spectra' carries no MATLAB class.*\.h5 name"):
            fio.open_recording(tmp_path / "h.mat", key=key)
    (tmp_path / "h.mat").rename(tmp_path / "h.h5")
    rec = fio.open_recording(tmp_path / "h.h5")
    np.testing.assert_array_equal(next(rec.pages()), x)
    rec.close()


def test_not_a_mat_file(tmp_path: Path) -> None:
    (tmp_path / "x.mat").write_bytes(b"garbage" * 40)
    with pytest.raises(FileFormatError, match="MATLAB"):
        fio.open_recording(tmp_path / "x.mat")


# -- TIFF ------------------------------------------------------------------------------


def test_tiff_compressed_pages_are_decoded_one_by_one(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(40, 30, seed=s) for s in range(4)])
    tifffile.imwrite(tmp_path / "c.tif", stack, compression="zlib", photometric="minisblack")
    rec = fio.open_recording(tmp_path / "c.tif")
    assert rec._contiguous is None and rec.n_pages == 4
    rec.close()
    roundtrip(denoiser, tmp_path / "c.tif", tmp_path / "o.tif")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "o.tif"), denoiser.run(stack), rtol=1e-6)


def test_tiff_bigtiff_when_needed(denoiser: Denoiser, tmp_path: Path, helpers: Any, monkeypatch: Any) -> None:
    from fluorodn import _tiff

    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    roundtrip(denoiser, tmp_path / "a.tif", tmp_path / "small.tif")
    monkeypatch.setattr(_tiff, "_BIGTIFF_BYTES", 100)
    roundtrip(denoiser, tmp_path / "a.tif", tmp_path / "big.tif")
    with tifffile.TiffFile(tmp_path / "small.tif") as small, tifffile.TiffFile(tmp_path / "big.tif") as big:
        assert not small.is_bigtiff and big.is_bigtiff
        np.testing.assert_array_equal(small.asarray(), big.asarray())


def test_tiff_rgb_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(FileFormatError, match="samples per pixel"):
        fio.open_recording(tmp_path / "rgb.tif")


def test_tiff_samples_in_planes_are_pages_and_interleaved_colour_is_refused(tmp_path: Path) -> None:
    """Samples stored as separate planes (as tifffile writes a (3, H, W) array by default, labelled
    RGB) are read as grey pages, whatever the label; colour interleaved pixel by pixel is refused."""
    rgb = np.arange(3 * 16 * 16, dtype=np.uint8).reshape(3, 16, 16)
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "contig.tif", np.moveaxis(rgb, 0, -1), photometric="rgb")
    with contextlib.closing(fio.open_recording(tmp_path / "planar.tif")) as rec:
        assert rec.shape == (3, 16, 16) and rec.n_pages == 3
    with pytest.raises(FileFormatError, match=r"3 samples per pixel \(colour\)"):
        fio.open_recording(tmp_path / "contig.tif")
    tifffile.imwrite(tmp_path / "planes.tif", rgb[:2], photometric="minisblack", planarconfig="separate")
    with contextlib.closing(fio.open_recording(tmp_path / "planes.tif")) as rec:
        assert rec.shape == (2, 16, 16) and rec.n_pages == 2


@pytest.mark.parametrize("channels", [2, 4])
def test_tiff_interleaved_grey_channels_are_refused_as_channels(tmp_path: Path, channels: int) -> None:
    data = np.zeros((16, 16, channels), np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", data, photometric="minisblack", planarconfig="contig")
    with pytest.raises(FileFormatError) as info:
        fio.open_recording(tmp_path / "c.tif")
    message = str(info.value)
    assert f"{channels} samples per pixel" in message and f"{channels} channels" in message
    assert "colour" not in message and "each channel as its own file" in message and "\n" not in message


def test_tiff_closed_while_read_ends_without_tifffile_warning(tmp_path: Path) -> None:
    import warnings

    x = np.arange(5 * 32 * 32, dtype=np.uint16).reshape(5, 32, 32)
    tifffile.imwrite(tmp_path / "z.tif", x, compression="zlib", photometric="minisblack")
    rec = fio.open_recording(tmp_path / "z.tif")
    pages = rec.pages()
    np.testing.assert_array_equal(next(pages), x[0])
    rec.close()  # as an interrupted run closes its reader while the read-ahead thread reads on
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="was closed while its pages were read"):
            next(pages)


def test_tiff_with_several_series_is_refused(tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "multi.tif") as tw:
        tw.write(np.zeros((8, 8), np.uint16))
        tw.write(np.zeros((4, 4), np.uint16))
    with pytest.raises(FileFormatError, match="2 image series"):
        fio.open_recording(tmp_path / "multi.tif")


def test_not_a_tiff(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_text("hello")
    with pytest.raises(FileFormatError, match="as TIFF"):
        fio.open_recording(tmp_path / "x.tif")


# -- atomic output ---------------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_removes_temp_on_error(tmp_path: Path, exc: type[BaseException]) -> None:
    dest = tmp_path / "out.tif"

    def write_then_fail() -> None:
        with fio.atomic_output(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise exc()

    with pytest.raises(exc):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_keeps_existing_file_on_error(tmp_path: Path) -> None:
    dest = tmp_path / "out.npy"
    dest.write_bytes(b"old")

    def write_then_fail() -> None:
        with fio.atomic_output(dest, overwrite=True) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert dest.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_atomic_output_refuses_existing_and_input(tmp_path: Path) -> None:
    dest = tmp_path / "out.npy"
    dest.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="overwrite=True"), fio.atomic_output(dest):
        pass
    with (
        pytest.raises(OutputExistsError, match="overwrite its input"),
        fio.atomic_output(dest, overwrite=True, source=dest),
    ):
        pass
    with fio.atomic_output(dest, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new"


# -- finding inputs, naming outputs ----------------------------------------------------


def test_find_inputs(tmp_path: Path) -> None:
    for name in ("a.tif", "b.npy", "c.mat", "a_denoised.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.TIFF").write_bytes(b"")
    names = [p.name for p in fio.find_inputs([str(tmp_path)])]
    assert names == ["a.tif", "b.npy", "c.mat"]
    everything = fio.find_inputs([str(tmp_path / "**" / "*")])
    assert [p.name for p in everything] == ["a.tif", "b.npy", "c.mat", "d.TIFF"]
    explicit = fio.find_inputs([str(tmp_path / "a_denoised.tif"), str(tmp_path / "a.tif"), str(tmp_path / "a.tif")])
    assert [p.name for p in explicit] == ["a_denoised.tif", "a.tif"]
    with pytest.raises(FileFormatError, match="does not exist"):
        fio.find_inputs([str(tmp_path / "missing.tif")])
    with pytest.raises(FileFormatError, match="matches no"):
        fio.find_inputs([str(tmp_path / "*.czi")])
    (tmp_path / "scan.czi").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"not \.czi"):
        fio.find_inputs([str(tmp_path / "scan.czi")])


def test_a_file_and_a_link_to_it_are_one_input_under_the_files_own_name(tmp_path: Path) -> None:
    """A folder holding a recording and a link to it (a "latest" link an acquisition program keeps):
    one input, at the first place either takes, named as the file itself, whether the link sorts
    before or after it; a link named alone keeps its name."""
    (tmp_path / "rec.npy").write_bytes(b"")
    (tmp_path / "a_latest.npy").symlink_to("rec.npy")
    (tmp_path / "z_latest.npy").symlink_to("rec.npy")
    (tmp_path / "other.npy").write_bytes(b"")
    assert [p.name for p in fio.find_inputs([str(tmp_path)])] == ["rec.npy", "other.npy"]
    assert [p.name for p in fio.find_inputs([str(tmp_path / "z_latest.npy")])] == ["z_latest.npy"]
    named = fio.find_inputs([str(tmp_path / "z_latest.npy"), str(tmp_path / "rec.npy")])
    assert [p.name for p in named] == ["rec.npy"]


def test_a_folder_with_recordings_only_in_subfolders_names_the_pattern_that_finds_them(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for sub in ("m1/d1", "m2", ".cache"):
        (raw / sub).mkdir(parents=True)
    (raw / "m1" / "d1" / "rec.npy").write_bytes(b"")
    (raw / "m2" / "rec.tif").write_bytes(b"")
    (raw / "notes.txt").write_text("not a recording")
    with pytest.raises(FileFormatError, match="matches no") as err:
        fio.find_inputs([str(raw)])
    pattern = str(raw / "**" / "*")
    assert f"(it has 2 subfolders, which a folder input does not search; pass '{pattern}' to look into them)" in str(
        err.value
    )
    assert [p.name for p in fio.find_inputs([pattern])] == ["rec.npy", "rec.tif"]
    with pytest.raises(FileFormatError, match="matches no") as err:
        fio.find_inputs([str(raw / "m2" / "*.npy")])  # a pattern: no hint
    assert "subfolder" not in str(err.value)
    (raw / "m2" / "rec.tif").unlink()
    with pytest.raises(FileFormatError, match=r"holds recordings$"):
        fio.find_inputs([str(raw / "m2")])  # no subfolders: no hint


def test_output_path(tmp_path: Path) -> None:
    src = tmp_path / "rec.ome.tif"
    assert fio.output_path(src, None, "_dn", False) == tmp_path / "rec_dn.ome.tif"
    assert fio.output_path(tmp_path / "x.npy", None, "_denoised", False) == tmp_path / "x_denoised.npy"
    assert fio.output_path(src, tmp_path / "out", "_dn", False) == tmp_path / "out" / "rec_dn.ome.tif"
    assert fio.output_path(src, tmp_path / "o.tiff", "_dn", False) == tmp_path / "o.tiff"
    assert fio.output_path(src, tmp_path / "run.v2", "_dn", False) == tmp_path / "run.v2" / "rec_dn.ome.tif"
    assert fio.output_path(src, tmp_path, "", True) == tmp_path / "rec.ome.tif"
    with pytest.raises(FileFormatError, match="same format"):
        fio.output_path(src, tmp_path / "o.npy", "_dn", False)
    with pytest.raises(FileFormatError, match="must be a folder"):
        fio.output_path(src, tmp_path / "o.tif", "_dn", True)


def test_plan_outputs_keeps_the_tree(tmp_path: Path) -> None:
    a, b = tmp_path / "data" / "m1" / "rec.tif", tmp_path / "data" / "m2" / "day1" / "rec.tif"
    plans = fio.plan_outputs([a, b], tmp_path / "out", "_dn", several=True, keep_tree=True)
    assert [dest for _, dest in plans] == [tmp_path / "out" / "m1" / "rec_dn.tif",
                                          tmp_path / "out" / "m2" / "day1" / "rec_dn.tif"]  # fmt: skip
    flat = fio.plan_outputs([a, b], tmp_path / "out", "_dn", several=True)
    assert flat[0][1] == flat[1][1] == tmp_path / "out" / "rec_dn.tif"
    with pytest.raises(FileFormatError, match="folder"):
        fio.plan_outputs([a], tmp_path / "out.tif", "_dn", several=False, keep_tree=True)


# -- temporary files -------------------------------------------------------------------


def test_stale_temps_of_dead_writers_are_removed(tmp_path: Path) -> None:
    """Only fluorodn's own temporary files whose writing process is gone; never a live writer's."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = fio.temp_name(tmp_path / "live.tif")  # this process: alive
    stale = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    other_host = stale.with_name(stale.name.replace(stale.name.split(".")[-2].split("-")[0], "0" * 8))
    foreign = [tmp_path / ".x.tif.0123456789ab.tmp", tmp_path / "notes.tmp", tmp_path / "rec.tif"]
    for p in [live, stale, other_host, *foreign]:
        p.write_bytes(b"x")
    assert fio.remove_stale_temps(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in [live, other_host, *foreign])
    assert fio.remove_stale_temps(tmp_path / "missing") == []


def test_atomic_output_check_before_publish_discards(tmp_path: Path) -> None:
    def changed() -> None:
        raise FileFormatError("the input changed")

    with pytest.raises(FileFormatError), fio.atomic_output(tmp_path / "a.tif", before_publish=changed) as tmp:
        tmp.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []


# -- TIFF compression ------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "kept"), [("zlib", "ADOBE_DEFLATE"), ("lzw", "LZW"), ("zstd", "ZSTD"),
                                             ("jpeg2000", "ADOBE_DEFLATE"), (None, "NONE")])  # fmt: skip
def test_tiff_output_keeps_lossless_compression(denoiser: Denoiser, tmp_path: Path, helpers: Any, codec: str | None,
                                                kept: str) -> None:  # fmt: skip
    stack = np.stack([helpers.spectra(60, 40, seed=s) for s in range(5)])
    tifffile.imwrite(tmp_path / "c.tif", stack, compression=codec, predictor=codec in ("zlib", "lzw") or None)
    out = roundtrip(denoiser, tmp_path / "c.tif", tmp_path / "o.tif", dtype="same")
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].compression.name == kept
        data = tif.asarray()
    np.testing.assert_array_equal(data, fio.cast_pages([denoiser.run(stack)], np.dtype(np.uint16)).__next__())
    if codec == "zlib":  # a compressed output of integers is about as small as its compressed input
        assert out.stat().st_size < 1.5 * (tmp_path / "c.tif").stat().st_size


# -- NaN filling -----------------------------------------------------------------------


def test_fill_nonfinite_interpolates_over_time() -> None:
    from fluorodn.files import fill_nonfinite

    page = np.tile(np.arange(6, dtype=np.float32)[:, None] * 2.0, (1, 3))
    page[2, 0], page[0, 1], page[5, 1], page[:, 2] = np.nan, np.inf, -np.inf, np.nan
    page[1, 2] = 7.0
    filled, (where, values) = fill_nonfinite(page)
    assert np.isfinite(filled).all() and filled.dtype == np.float32
    assert filled[2, 0] == 4.0  # between 2 and 6
    assert filled[0, 1] == 2.0 and filled[5, 1] == 8.0  # nearest finite at either end
    np.testing.assert_array_equal(filled[:, 2], 7.0)  # one finite value: repeated
    restored = filled.copy()
    restored.flat[where] = values
    np.testing.assert_array_equal(restored, page)
    assert fill_nonfinite(np.ones((3, 3)))[1] is None
    with pytest.raises(FileFormatError, match="no finite value"):
        fill_nonfinite(np.full((3, 3), np.nan))
    from fluorodn.errors import InputError

    stack = np.stack([page, page])
    for wrong, said in ((stack, r"one 2D page .*\(2, 6, 3\); call it on each page"), (page[:, 0], r"got shape \(6,\)"),
                        (page.astype(np.complex64), "complex")):  # fmt: skip
        with pytest.raises(InputError, match=said):
            fill_nonfinite(wrong)
