"""HDF5 filters beyond those built into h5py: reading datasets compressed with them, and keeping
them on a copy's datasets.

Files written with Blosc, Zstandard, LZ4, Bitshuffle and the like need the filter's plugin to be
read. ``hdf5plugin`` (the ``hdf5-plugins`` extra) registers the common ones; fluorodn imports it
only when a dataset needs a filter HDF5 does not have, and otherwise says which filter is missing
and how to add it, instead of HDF5's own message about a plugin folder.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from fluorodn.errors import FileFormatError

__all__ = ["creation_filters", "require_filters"]

#: Filters whose settings depend on the stored type (N-bit packing, scale-offset, lossy for floats):
#: they are not carried onto a dataset of another type.
_TYPE_BOUND = {5: "nbit", 6: "scaleoffset"}


#: H5Z_FLAG_OPTIONAL: a filter HDF5 skips, chunk by chunk, where it cannot apply it when writing.
_OPTIONAL = 1


@functools.cache
def _register_plugins() -> bool:
    """Register hdf5plugin's filters with HDF5, once; False where hdf5plugin is not installed."""
    try:
        import hdf5plugin  # noqa: F401  (importing it registers its filters)
    except ImportError:
        return False
    return True


def _filters(ds: Any) -> list[tuple[int, int, tuple[int, ...], str]]:
    """The filter pipeline of the dataset ``ds``, in order: (id, flags, client values, name)."""
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        code, flags, values, name = plist.get_filter(i)
        out.append((int(code), int(flags), tuple(int(v) for v in values), name.decode("ascii", "replace")))
    return out


def _available(code: int, encode: bool = False) -> bool:
    """Whether HDF5 has the filter ``code`` (for writing too, where ``encode``), hdf5plugin's registered if need be."""
    import h5py

    def has() -> bool:
        if not h5py.h5z.filter_avail(code):
            return False
        if not encode:
            return True
        return bool(h5py.h5z.get_filter_info(code) & h5py.h5z.FILTER_CONFIG_ENCODE_ENABLED)

    return has() or (_register_plugins() and has())


def _applied(ds: Any, index: int) -> bool:
    """Whether the filter at ``index`` of the pipeline of the chunked dataset ``ds`` was applied to any
    of its stored chunks (True where that cannot be told: an HDF5 without chunk queries)."""
    try:
        return any(not (ds.id.get_chunk_info(i).filter_mask >> index) & 1 for i in range(ds.id.get_num_chunks()))
    except (AttributeError, RuntimeError, OSError, ValueError):
        return True


def require_filters(ds: Any, name: str, where: str) -> None:
    """Raise FileFormatError where the dataset ``ds`` (``name`` in the file ``where``) is compressed with
    a filter this installation cannot decode, naming it and how to add it."""
    for index, (code, flags, _, filter_name) in enumerate(_filters(ds)):
        if _available(code) or (flags & _OPTIONAL and not _applied(ds, index)):
            continue
        fix = (
            'pip install "fluorodn[hdf5-plugins]" (hdf5plugin) adds the common ones'
            if not _register_plugins()
            else "hdf5plugin does not have it: install the filter's HDF5 plugin and point HDF5_PLUGIN_PATH at it"
        )
        raise FileFormatError(
            f"{where}: {name} is compressed with the HDF5 filter {filter_name or 'unnamed'} (id {code}), which this "
            f"installation cannot decode; {fix}"
        )


def creation_filters(ds: Any, path: str) -> Any:
    """A dataset creation property list holding the filter pipeline of the chunked dataset ``ds``, for
    its replacement at ``path`` (any numeric type): every filter kept, in order, with its settings
    (a plugin's type-dependent ones are set again for the new type by the plugin), except N-bit and
    scale-offset, which are bound to the stored type, and filters HDF5 cannot write here; a filter
    left out is said in a warning."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    for code, flags, values, filter_name in _filters(ds):
        why = None
        if code in _TYPE_BOUND:
            why = "it is bound to the input's stored type"
        elif not _available(code, encode=True) and not flags & _OPTIONAL:  # (an optional one: skipped where absent)
            why = "this installation cannot write it"
        if why is not None:
            named = filter_name or _TYPE_BOUND.get(code, str(code))
            warnings.warn(
                f"the output's {path} is written without the input's HDF5 filter {named} ({why}), so it may take "
                "more space; its values are the same",
                UserWarning,
                stacklevel=4,
            )
            continue
        dcpl.set_filter(code, flags, values)
    return dcpl
