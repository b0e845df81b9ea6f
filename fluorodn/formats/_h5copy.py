"""Copying an HDF5 file's tree into a new file, with some datasets replaced, so that the copy
holds no reference into the original.

Objects, links and attributes are copied as they are; attributes that hold object references
(dimension scales' ``DIMENSION_LIST`` and ``REFERENCE_LIST``, and any other) are not copied
byte for byte, since their references would point into the original: dimension scales are
attached again in the copy, other references rewritten to the copy's objects at the same paths,
and what cannot be carried over is left out with a warning. Datasets of object references get
their values rewritten so too (a warning names those holding other references).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fluorodn.files import one_line
from fluorodn.formats._h5filters import creation_filters

__all__ = ["attribute_text", "copy_file"]


def copy_file(fin: Any, fout: Any, new: dict[str, np.ndarray]) -> None:
    """Copy the open h5py file ``fin`` into the open, empty ``fout``, the datasets at the paths of
    ``new`` replaced by its arrays (same shape, chunks, filters, maximum shape and fill value where
    they fit). An object reached by several hard links is copied once and linked again at its
    other paths, as in ``fin``: a replaced dataset's other paths show the replacement."""
    _copy_attrs(fin, fout)
    replaced = {fin[path].id: array for path, array in new.items()}  # by object: any of its links
    _copy_tree(fin, fout, replaced, {fin.id: "/"})
    _carry_references(fin, fout)


def attribute_text(value: Any) -> str | None:
    """The text of a string attribute: str or bytes, or an array of one of them; None for anything else."""
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if arr is not None:
        if arr.size != 1:
            return None
        value = arr.ravel()[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if isinstance(value, str) else None


def _holds_references(dtype: np.dtype) -> bool:
    """Whether values of ``dtype`` (an attribute's, as h5py gives it) hold HDF5 references."""
    import h5py

    if h5py.check_dtype(ref=dtype) is not None:
        return True
    base = h5py.check_dtype(vlen=dtype)
    if isinstance(base, np.dtype) and _holds_references(base):
        return True
    if dtype.fields:
        return any(_holds_references(field[0]) for field in dtype.fields.values())
    return dtype.subdtype is not None and _holds_references(dtype.subdtype[0])


def _copy_attrs(src: Any, dst: Any) -> None:
    """Copy the attributes of ``src`` to ``dst``, except those holding references (see _carry_references)."""
    for name in src.attrs:
        try:
            dtype = src.attrs.get_id(name).dtype
            if not _holds_references(dtype):
                dst.attrs.create(name, src.attrs[name], dtype=dtype)
        except Exception as err:  # an attribute h5py cannot read or re-create: said, not dropped silently
            warnings.warn(
                f"attribute {name!r} of {src.name} cannot be copied ({one_line(err)}); the output leaves it out",
                UserWarning,
                stacklevel=4,
            )


def _copy_tree(src: Any, dst: Any, new: dict[Any, np.ndarray], copied: dict[Any, str]) -> None:
    """Copy ``src`` into ``dst``; the datasets in ``new`` (by h5py id, equal for every hard link to
    one object) get new data, at whichever of their links comes first. ``copied`` maps the objects
    already copied (by id) to their paths in the copy: a link to one of them is made a hard link there."""
    import h5py

    for name in src:
        link = src.get(name, getlink=True)
        if isinstance(link, h5py.SoftLink):
            dst[name] = h5py.SoftLink(link.path)
            continue
        if isinstance(link, h5py.ExternalLink):
            dst[name] = h5py.ExternalLink(link.filename, link.path)
            continue
        obj = src[name]
        if obj.id in copied:
            dst[name] = dst.file[copied[obj.id]]
            continue
        if obj.id in new:
            path = f"{dst.name.rstrip('/')}/{name}"
            out = dst.create_dataset(name, data=new[obj.id], **_creation(obj, new[obj.id], path))
            _copy_attrs(obj, out)
        elif isinstance(obj, h5py.Group):
            # walked rather than copied whole, so that links into it from elsewhere stay links
            ordered = bool(obj.id.get_create_plist().get_link_creation_order())
            group = dst.create_group(name, track_order=ordered or None)
            copied[obj.id] = group.name
            _copy_attrs(obj, group)
            _copy_tree(obj, group, new, copied)
            continue
        else:
            src.copy(obj, dst, name=name)
        copied[obj.id] = dst[name].name


def _creation(ds: Any, data: np.ndarray, path: str) -> dict[str, Any]:
    """The creation settings of the dataset ``ds`` that ``data`` (same shape), to be written at
    ``path``, can keep: chunks, the maximum shape, the filter pipeline (compression, the shuffle
    filter, the Fletcher-32 checksum, plugins' filters: see :func:`creation_filters`), and a fill
    value set by the writer that ``data``'s type holds exactly."""
    kwargs: dict[str, Any] = {}
    if ds.chunks is not None:
        kwargs["chunks"] = ds.chunks
        kwargs["maxshape"] = ds.maxshape
        kwargs["dcpl"] = creation_filters(ds, path)
    try:
        user_fill = ds.id.get_create_plist().fill_value_defined() == 2  # H5D_FILL_VALUE_USER_DEFINED
        fill = np.asarray(ds.fillvalue)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kept = fill.astype(data.dtype)
        if user_fill and fill.shape == () and np.array_equal(kept, fill, equal_nan=fill.dtype.kind in "fc"):
            kwargs["fillvalue"] = kept
    except (TypeError, ValueError):  # a compound or string fill value: the numeric output has none
        pass
    return kwargs


def _carry_references(fin: Any, fout: Any) -> None:
    """Make the references in the attributes of ``fout`` (a copy of ``fin``) point into ``fout``.

    A copied attribute's references still point into ``fin``. Dimension scales are attached in
    ``fout`` as in ``fin`` (which re-makes ``DIMENSION_LIST`` and ``REFERENCE_LIST``); other
    attributes of object references are rewritten to the objects at the same paths in ``fout``;
    the rest (region references, references to nothing) are left out, with a warning.
    """
    import h5py

    objects: list[tuple[str, Any]] = [("/", fout)]
    fout.visititems(lambda path, obj: objects.append(("/" + path, obj)))
    scaled: list[tuple[str, Any, Any]] = []
    for path, out in objects:
        src = fin.get(path)
        if src is None:
            continue
        held = isinstance(src, h5py.Dataset) and isinstance(out, h5py.Dataset) and _holds_references(src.dtype)
        if held and not _rewrite_dataset_references(fin, fout, src, out):
            warnings.warn(
                f"dataset {path} holds references that cannot be pointed at the output's objects (region "
                "references, references in compound values, or references to nothing): do not follow them in "
                "the output",
                UserWarning,
                stacklevel=4,
            )
        for name in list(src.attrs):
            try:
                dtype = src.attrs.get_id(name).dtype
            except Exception:  # unreadable: _copy_attrs says so where it copies attributes itself
                continue
            if not _holds_references(dtype):
                continue
            if name in out.attrs:
                del out.attrs[name]
            if name == "DIMENSION_LIST" and isinstance(src, h5py.Dataset) and isinstance(out, h5py.Dataset):
                scaled.append((path, src, out))
            elif name != "REFERENCE_LIST" and not _rewrite_references(fin, fout, src, out, name):
                warnings.warn(
                    f"attribute {name!r} of {path} holds references that cannot be pointed at the output's objects "
                    "(region references, or references to nothing); the output leaves it out",
                    UserWarning,
                    stacklevel=4,
                )
    for path, src, out in scaled:
        lost = _attach_scales(fin, fout, src, out)
        if lost:
            warnings.warn(
                f"{lost} dimension scale{'s' if lost > 1 else ''} attached to {path} cannot be followed in the input "
                "(references to nothing); the output leaves them out",
                UserWarning,
                stacklevel=4,
            )


def _rewrite_dataset_references(fin: Any, fout: Any, src: Any, out: Any) -> bool:
    """Point the object references held by the dataset ``out`` (a copy of ``src``) at the objects at
    the same paths in ``fout``; False where ``src`` holds other references (left as copied) or
    references to nothing (null in the output)."""
    import h5py

    if h5py.check_dtype(ref=src.dtype) is not h5py.Reference:  # region references, compounds holding references
        return False
    if src.shape is None:  # an empty dataspace (h5py.Empty): no value to point anywhere
        return True
    values = np.asarray(src[()], dtype=object)
    rewritten = np.empty(values.shape, dtype=h5py.ref_dtype)
    whole = True
    for index, ref in np.ndenumerate(values):
        path = _path_of(fin, ref) if ref else None
        target = fout.get(path) if path is not None else None
        rewritten[index] = target.ref if target is not None else None
        whole = whole and (target is not None or not ref)
    out[...] = rewritten
    return whole


def _path_of(fin: Any, ref: Any) -> str | None:
    """The path in ``fin`` of the object ``ref`` points to; None for a null reference or one to nothing."""
    if not ref:
        return None
    try:
        return str(fin[ref].name) if fin[ref].name else None
    except (KeyError, ValueError, RuntimeError, OSError, TypeError):  # TypeError: not a reference (h5py.Empty)
        return None


def _attach_scales(fin: Any, fout: Any, src: Any, out: Any) -> int:
    """Attach to ``out`` the datasets of ``fout`` at the paths of the scales attached to ``src`` (in
    ``fin``), dimension by dimension in the same order; the number that could not be."""
    import h5py

    try:
        lists = list(src.attrs["DIMENSION_LIST"])
    except Exception:
        return 1
    lost = 0 if len(lists) == out.ndim else 1
    for i, refs in enumerate(lists[: out.ndim]):
        for ref in np.asarray(refs, dtype=object).ravel():
            path = _path_of(fin, ref)
            scale = fout.get(path) if path else None
            try:
                if not isinstance(scale, h5py.Dataset):
                    raise KeyError(path)
                if not scale.is_scale:
                    scale.make_scale(attribute_text(fin[path].attrs.get("NAME", b"")) or "")
                out.dims[i].attach_scale(scale)
            except (KeyError, ValueError, RuntimeError):
                lost += 1
    return lost


def _rewrite_references(fin: Any, fout: Any, src: Any, out: Any, name: str) -> bool:
    """Give ``out`` the attribute ``name`` of ``src``, its object references pointing to the objects
    at the same paths in ``fout``; False where it holds other references or ones to nothing."""
    import h5py

    if h5py.check_dtype(ref=src.attrs.get_id(name).dtype) is not h5py.Reference:
        return False
    value = np.asarray(src.attrs[name], dtype=object)
    rewritten = np.empty(value.shape, dtype=object)
    for index, ref in np.ndenumerate(value):
        if not ref:
            rewritten[index] = None  # a null reference stays null
            continue
        path = _path_of(fin, ref)
        target = fout.get(path) if path else None
        if target is None:
            return False
        rewritten[index] = target.ref
    out.attrs.create(name, rewritten, dtype=h5py.ref_dtype)
    return True
