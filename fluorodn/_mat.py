"""MATLAB .mat recordings: v4/v5/v7 through scipy.io, v7.3 (HDF5) through h5py.

One variable is denoised (``key``; chosen automatically when the file holds exactly one
2D or 3D numeric array), or one field of a struct (``key="rec.spectra"``; chosen
automatically when the file holds no such variable and its structs exactly one such field).
The output file keeps every variable of the input and adds the denoised one under a new name
(a field's as ``rec_spectra_denoised``), plus ``fluorodn_provenance`` (a char array of JSON).

Axis order follows MATLAB: a 2D variable is (rows, cols), e.g. time x wavelength; a 3D
variable is (rows, cols, pages), i.e. page ``k`` is ``A(:, :, k)``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError, OutputExistsError
from fluorodn.files import read_errors

_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
_CLASS_OF = {
    "float64": "double",
    "float32": "single",
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
}
#: Name of the variable holding fluorodn's provenance in output files.
PROVENANCE_VAR = "fluorodn_provenance"


def matlab_name(name: str) -> str:
    """A valid MATLAB variable name (letters, digits, underscores; 63 chars) close to ``name``."""
    name = re.sub(r"\W", "_", name, flags=re.ASCII)
    if not name or not name[0].isalpha():
        name = "x" + name
    return name[:63]


def _h5_errors(path: Path) -> contextlib.AbstractContextManager[None]:
    """Turn what h5py raises on a damaged or hostile v7.3 file into FileFormatError."""
    return read_errors(path, "a MATLAB v7.3 file", "save it again from MATLAB (save -v7.3)")


def _compressed(path: Path) -> bool:
    """Whether a MATLAB v5 file stores its (first) variable compressed, as MATLAB's ``save`` does by
    default (data element type miCOMPRESSED, 15, after the 128-byte header)."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if len(head) < 132:
        return False
    order = "<" if head[126:128] == b"IM" else ">"
    return int(np.frombuffer(head[128:132], dtype=f"{order}u4")[0]) == 15


def _h5_path(name: str) -> str:
    """The HDF5 path of variable or struct field ``name`` (``rec.spectra`` -> ``rec/spectra``) in a v7.3 file."""
    return name.replace(".", "/")


def _is_numeric(arr: Any) -> bool:
    return isinstance(arr, np.ndarray) and arr.dtype.kind in "iuf" and arr.ndim in (2, 3) and arr.size > 0


class MatRecording:
    """One variable of a .mat file, read as 2D pages (H, W)."""

    kind = "mat"

    def __init__(self, path: Path, key: str | None = None) -> None:
        import h5py

        self.path = path
        try:
            self.v73 = bool(h5py.is_hdf5(path))
        except Exception:  # unreadable as HDF5: scipy's reader says what is wrong
            self.v73 = False
        self._h5: Any = None
        self._vars: dict[str, Any] = {}
        if self.v73:
            try:
                with _h5_errors(path):
                    self._h5 = h5py.File(path, "r")
                    names, usable = self._h5_variables()
                    self.key = self._pick(key, names, usable)
                    dset = self._h5[_h5_path(self.key)]
                    self.shape = self._matlab_shape(self.key)
                    self.dtype = np.dtype(dset.dtype)
            except BaseException:
                self.close()
                raise
        else:
            import scipy.io

            try:
                self._vars = scipy.io.loadmat(path)
            except Exception as err:  # scipy raises many types (IndexError, MatReadError, ...) on other files
                raise FileFormatError(
                    f"cannot read {path} as a MATLAB file ({err}); save it again from MATLAB (save -v7 or -v7.3)"
                ) from err
            names = [k for k in self._vars if not k.startswith("__")]
            self.key = self._pick(key, names, {k for k in names if _is_numeric(self._vars[k])})
            arr = self._v5_get(self.key)
            self.shape = tuple(int(n) for n in arr.shape)
            self.dtype = arr.dtype
        self.page_shape = (self.shape[0], self.shape[1])
        self.n_pages = self.shape[2] if len(self.shape) == 3 else 1

    def check_output_name(self, var_name: str) -> str:
        """``var_name`` as the output's variable is named (:func:`matlab_name`); OutputExistsError
        where the input holds a variable of that name already, which the output would lose."""
        var_name = matlab_name(var_name)
        if var_name in self._names():
            raise OutputExistsError(
                f"{self.path} holds a variable {var_name} already, which the denoised {self.key} would replace in "
                "the output; choose another suffix=..."
            )
        return var_name

    def _names(self) -> set[str]:
        """The names of the file's top-level variables."""
        if not self.v73:
            return {k for k in self._vars if not k.startswith("__")}
        if self._h5 is not None:
            return set(self._h5)
        import h5py

        with _h5_errors(self.path), h5py.File(self.path, "r") as f:
            return set(f)

    def _h5_variables(self) -> tuple[list[str], set[str]]:
        """Names of the file's top-level variables, and those fluorodn can denoise.

        Only hard links are variables (MATLAB writes nothing else): a soft link (which may
        loop) or an external link (into another file) is never followed, and a dataset
        whose data live elsewhere (virtual, or in external raw files) is not read.
        """
        import h5py

        names, usable = [], set()
        for name in self._h5:
            if name.startswith("#"):
                continue
            names.append(name)
            link = self._h5.get(name, getlink=True)
            if isinstance(link, h5py.HardLink) and self._h5_numeric(self._h5[name]):
                usable.add(name)
        return names, usable

    def _h5_refusal(self, name: str) -> str | None:
        """Why variable ``name`` of a v7.3 file is not read, if it is a link or its data lie elsewhere."""
        import h5py

        link = self._h5.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            return f"is a link to {link.path!r} in the file {link.filename!r}"
        if isinstance(link, h5py.SoftLink):
            return f"is a link to {link.path!r}"
        dset = self._h5[name]
        if isinstance(dset, h5py.Dataset) and dset.is_virtual:
            return "is a virtual dataset, made of data in other files"
        if isinstance(dset, h5py.Dataset) and dset.external:
            return f"keeps its data in the external file {dset.external[0][0]!r}"
        return None

    @staticmethod
    def _h5_numeric(d: Any) -> bool:
        import h5py

        if not isinstance(d, h5py.Dataset) or d.ndim not in (2, 3) or d.size == 0:
            return False
        if d.is_virtual or d.external:  # data outside this file
            return False
        cls = d.attrs.get("MATLAB_class", b"")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        return cls in _NUMERIC and np.dtype(d.dtype).kind in "iuf" and "MATLAB_empty" not in d.attrs

    def _h5_unclassed(self, name: str) -> bool:
        """Whether ``name`` is a 2D or 3D numeric dataset without the ``MATLAB_class`` attribute
        MATLAB writes on every variable (an HDF5 file written by other tools, named .mat)."""
        import h5py

        d = self._h5.get(name)
        return (
            isinstance(d, h5py.Dataset)
            and d.ndim in (2, 3)
            and np.dtype(d.dtype).kind in "iuf"
            and "MATLAB_class" not in d.attrs
        )

    def _unclassed_message(self, name: str) -> str:
        return (
            f"{self.path} is an HDF5 file whose array {name!r} carries no MATLAB class, so MATLAB's save did not "
            "write it; read it as HDF5 by giving the file an .h5 name, or save it from MATLAB"
        )

    def _pick(self, key: str | None, names: list[str], usable: set[str]) -> str:
        """The variable to denoise: ``key`` (a variable, or a struct's field as ``rec.spectra``), else
        the only usable one that is not a vector or scalar, else the only such field of a struct."""
        if key is not None:
            key = key.strip("/").replace("/", ".")
            if key not in names:
                return self._pick_field(key, names)
            if key not in usable:
                fields = self._fields(key)
                if fields is not None:
                    listed = ", ".join(f"{key}.{f}" for f in fields) or "none"
                    raise FileFormatError(
                        f"variable {key!r} in {self.path} is a struct (its fields: {listed}); choose a field with "
                        f"key={key}.FIELD"
                    )
                why = self._h5_refusal(key) if self.v73 else None
                if why is not None:
                    raise FileFormatError(
                        f"variable {key!r} in {self.path} {why}; fluorodn reads only what the file itself holds: "
                        "save the data into the file itself, or choose another key=..."
                    )
                if self.v73 and self._h5_unclassed(key):
                    raise FileFormatError(self._unclassed_message(key))
                raise FileFormatError(
                    f"variable {key!r} in {self.path} is not a 2D or 3D array of real numbers; choose another key=..."
                )
            return key
        matrices = sorted(k for k in usable if min(self._matlab_shape(k)[:2]) >= 2)
        if len(matrices) == 1:
            return matrices[0]
        if not matrices:
            in_structs = self._struct_matrices(names)
            if len(in_structs) == 1:
                return in_structs[0]
            if in_structs:
                raise FileFormatError(
                    f"{self.path} holds several arrays in its structs ({', '.join(in_structs)}); "
                    "choose one with key=..."
                )
            elsewhere = [k for k in names if self.v73 and self._h5_refusal(k)]
            if elsewhere:
                raise FileFormatError(
                    f"{self.path} holds no 2D or 3D numeric array of its own to denoise (variable {elsewhere[0]!r} "
                    f"{self._h5_refusal(elsewhere[0])}); fluorodn reads only what the file itself holds: save the "
                    "data into the file itself"
                )
            unclassed = [k for k in names if self.v73 and self._h5_unclassed(k)]
            if unclassed:
                raise FileFormatError(self._unclassed_message(unclassed[0]))
            raise FileFormatError(
                f"{self.path} holds no 2D or 3D numeric array to denoise; save the recording in it as a numeric matrix"
            )
        raise FileFormatError(f"{self.path} holds several arrays ({', '.join(matrices)}); choose one with key=...")

    def _matlab_shape(self, name: str) -> tuple[int, ...]:
        if self.v73:
            return tuple(int(n) for n in reversed(self._h5[_h5_path(name)].shape))
        return tuple(int(n) for n in self._v5_get(name).shape)

    def _v5_get(self, name: str) -> Any:
        """Variable ``name`` of a v5 file, or the field ``a.b`` of a 1 x 1 struct ``a``; None if there is none."""
        head, *fields = name.split(".")
        value = self._vars.get(head)
        for field in fields:
            if not (isinstance(value, np.ndarray) and value.dtype.names and field in value.dtype.names):
                return None
            if value.size != 1:  # a struct array: which element is meant is not said
                return None
            value = value[field].flat[0]
        return value

    def _h5_field(self, name: str) -> Any:
        """The dataset or group of ``a.b`` in a v7.3 file, through hard links only; None if there is none."""
        import h5py

        node, parts = self._h5, name.split(".")
        for part in parts:
            if not isinstance(node, h5py.Group) or part.startswith("#"):
                return None
            if not isinstance(node.get(part, getlink=True), h5py.HardLink):
                return None
            node = node[part]
        return node

    def _fields(self, name: str) -> list[str] | None:
        """The field names of struct ``name`` (a variable or a field), or None if it is no struct."""
        if self.v73:
            import h5py

            node = self._h5_field(name)
            if not isinstance(node, h5py.Group):
                return None
            cls = node.attrs.get("MATLAB_class", b"")
            if (cls.decode() if isinstance(cls, bytes) else str(cls)) != "struct":
                return None
            return [k for k in node if not k.startswith("#")]
        value = self._v5_get(name)
        if isinstance(value, np.ndarray) and value.dtype.names and value.size == 1:
            return list(value.dtype.names)
        return None

    def _field_usable(self, name: str) -> bool:
        if self.v73:
            node = self._h5_field(name)
            return node is not None and self._h5_numeric(node)
        return _is_numeric(self._v5_get(name))

    def _struct_matrices(self, names: list[str]) -> list[str]:
        """The fields of the file's top-level structs that hold a 2D or 3D numeric matrix."""
        found = []
        for name in names:
            for field in self._fields(name) or []:
                full = f"{name}.{field}"
                if self._field_usable(full) and min(self._matlab_shape(full)[:2]) >= 2:
                    found.append(full)
        return sorted(found)

    def _pick_field(self, key: str, names: list[str]) -> str:
        """``key`` naming a struct's field (``rec.spectra``), checked; FileFormatError where it names nothing usable."""
        head = key.split(".")[0]
        if "." not in key or head not in names:
            listed = ", ".join(names) or "none"
            raise FileFormatError(f"{self.path} has no variable {key!r} (its variables: {listed}); fix key=...")
        parent = key.rsplit(".", 1)[0]
        fields = self._fields(parent)
        if fields is None or key.rsplit(".", 1)[1] not in fields:
            listed = ", ".join(f"{parent}.{f}" for f in fields or []) or "none"
            raise FileFormatError(f"{self.path} has no field {key!r} (the fields of {parent}: {listed}); fix key=...")
        if not self._field_usable(key):
            raise FileFormatError(
                f"field {key!r} in {self.path} is not a 2D or 3D array of real numbers; choose another key=..."
            )
        return key

    def pages(self) -> Iterator[np.ndarray]:
        """The (H, W) pages of the variable: the variable itself if 2D, else ``A(:, :, k)``."""
        if self.v73:
            dset = self._h5[_h5_path(self.key)]
            for k in range(1 if dset.ndim == 2 else dset.shape[0]):
                with _h5_errors(self.path):
                    page = dset[()] if dset.ndim == 2 else dset[k]
                yield page.T
            return
        arr = self._v5_get(self.key)
        if arr.ndim == 2:
            yield arr
        else:
            for k in range(arr.shape[2]):
                yield arr[:, :, k]

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        self._vars = {}

    def write(
        self,
        dest: Path,
        pages: Iterable[np.ndarray],
        dtype: np.dtype,
        provenance: dict[str, Any],
        var_name: str,
    ) -> None:
        """Write all variables of the input plus ``var_name`` (the denoised pages) to ``dest``;
        OutputExistsError, before any page is taken, where the input holds a variable of that name
        already (the output would lose it: an earlier output's, or the user's own)."""
        var_name = self.check_output_name(var_name)
        text = json.dumps(provenance)
        if self.v73:
            self._write_v73(dest, pages, np.dtype(dtype), text, var_name)
            return
        import scipy.io

        data = np.empty(self.shape, dtype=dtype)
        for k, page in enumerate(pages):
            if data.ndim == 2:
                data[...] = page
            else:
                data[:, :, k] = page
        out = {k: v for k, v in self._vars.items() if not k.startswith("__")}
        # loadmat gives a logical variable as uint8: it is written back as logical (MATLAB indexes
        # with a logical mask, and would take a uint8 one for indices)
        logical = {name for name, _, cls in scipy.io.whosmat(self.path) if cls == "logical"}
        out = {k: (v.astype(bool) if k in logical and isinstance(v, np.ndarray) else v) for k, v in out.items()}
        out[var_name] = data
        out[PROVENANCE_VAR] = text
        scipy.io.savemat(dest, out, appendmat=False, long_field_names=True, do_compression=_compressed(self.path))

    def _write_v73(self, dest: Path, pages: Iterable[np.ndarray], dtype: np.dtype, text: str, name: str) -> None:
        import h5py

        shutil.copyfile(self.path, dest)  # keeps the MATLAB header (user block) and every variable
        with h5py.File(dest, "r+") as f:
            for existing in (name, PROVENANCE_VAR):
                if f.get(existing, getlink=True) is not None:  # the link itself: never followed
                    del f[existing]
            dset = f.create_dataset(name, shape=tuple(reversed(self.shape)), dtype=dtype)
            dset.attrs["MATLAB_class"] = np.bytes_(_CLASS_OF[dtype.name])
            for k, page in enumerate(pages):
                if dset.ndim == 2:
                    dset[...] = page.T
                else:
                    dset[k] = page.T
            chars = np.frombuffer(text.encode("utf-16-le"), dtype=np.uint16).reshape(-1, 1)
            prov = f.create_dataset(PROVENANCE_VAR, data=chars)
            prov.attrs["MATLAB_class"] = np.bytes_("char")
            prov.attrs["MATLAB_int_decode"] = np.int32(2)
