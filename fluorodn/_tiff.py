"""TIFF recordings: read page by page, write page by page with the metadata kept.

Handled flavours: ImageJ hyperstacks (description keys, Info, Labels, Ranges, LUTs and
Properties kept; provenance added as the property ``fluorodn``), OME-TIFF (the input's
OME-XML kept whole, planes, channels, instrument and annotations included, with only what
describes the stored pixels written anew: pixel type, TiffData, UUIDs; provenance added as a
map annotation), tifffile's shaped JSON (kept; provenance added under ``fluorodn``), and any
other TIFF (its ImageDescription kept verbatim; provenance written to a second
ImageDescription tag as JSON). Resolution, resolution unit, date/time and tiling are kept;
the reduced levels of a pyramid (SubIFDs) are not written, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from fluorodn.errors import FileFormatError
from fluorodn.spectral import rate_refusal

#: ImageJ description keys that tifffile computes from the data itself.
_IJ_COMPUTED = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack"}
#: OME Pixels attributes copied to the output.
_OME_PIXELS = [
    f"{k}{u}" for k in ("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeZ", "TimeIncrement") for u in ("", "Unit")
]
#: OME-XML pixel types of the dtypes an OME-TIFF output can hold.
_OME_TYPES = {
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "float32": "float",
    "float64": "double",
}
#: Namespace of the map annotation that holds fluorodn's provenance in an OME-XML.
_PROVENANCE_NS = "fluorodn/provenance"
#: Lossless TIFF codecs an output keeps when its input uses them; any other compressed input
#: (JPEG, JPEG 2000, WebP, ...: lossy, or made for 8-bit colour) gives a zlib output.
_LOSSLESS = ("ADOBE_DEFLATE", "DEFLATE", "LZW", "ZSTD", "LZMA", "PACKBITS", "LZ4", "BROTLI")
#: Outputs bigger than this are written as BigTIFF (classic TIFF ends at 4 GiB).
_BIGTIFF_BYTES = 2**32 - 2**27
#: Bytes of a file read at a time while its pages are read.
READ_WINDOW_BYTES = 1 << 22
#: Photometric interpretations of grey-scale samples (any other is a colour space).
_GREY = (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE)


def file_pages(
    path: Path, offset: int, dtype: np.dtype, page_shape: tuple[int, int], n_pages: int
) -> Iterator[np.ndarray]:
    """The (H, W) pages stored one after another from byte ``offset`` of ``path``, in ``dtype``.

    The file is read with plain reads, ``READ_WINDOW_BYTES`` at a time, never memory-mapped:
    a file shorter than its header says, or one that shrinks while it is read, ends in
    FileFormatError (through a memory map it would kill the process with SIGBUS), and
    memory stays flat however long the file is. Pages come in native byte order.
    """
    dtype = np.dtype(dtype)
    page_bytes = dtype.itemsize * page_shape[0] * page_shape[1]
    per_window = max(1, READ_WINDOW_BYTES // max(1, page_bytes))
    with open(path, "rb") as fh:
        fh.seek(offset)
        for start in range(0, n_pages, per_window):
            n = min(per_window, n_pages - start)
            buf = read_exact(fh, n * page_bytes, path)
            window = np.frombuffer(buf, dtype=dtype).reshape(n, *page_shape)
            if not dtype.isnative:
                window = window.astype(dtype.newbyteorder("="))
            yield from window
            del buf, window  # before the next window is allocated: one window in memory at a time


def read_exact(fh: Any, nbytes: int, path: Path) -> bytearray:
    """``nbytes`` bytes from ``fh``; FileFormatError if the file ends before."""
    buf = bytearray(nbytes)
    view, got = memoryview(buf), 0
    while got < nbytes:
        n = fh.readinto(view[got:])
        if not n:
            raise _damaged(path, f"it ends {nbytes - got} bytes before its data do; it may have been cut short")
        got += n
    return buf


class _TifffileErrors(logging.Handler):
    """Collects what tifffile logs at ERROR level in this thread.

    tifffile reports a damaged file (a broken chain of pages, corrupt tags) by logging an
    error and reading fewer pages, not by raising; fluorodn must not mistake that for a
    complete recording.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def _damaged(path: Path, detail: object) -> FileFormatError:
    detail = " ".join(str(detail).split())[:200]
    return FileFormatError(
        f"{path} is damaged or truncated ({detail}); restore it from the acquisition computer or a backup, "
        "or save it again"
    )


@contextlib.contextmanager
def _read_checked(path: Path) -> Iterator[None]:
    """Turn tifffile's logged errors and decoding exceptions into FileFormatError."""
    handler = _TifffileErrors()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield
    except (FileFormatError, OSError):
        raise
    except Exception as err:  # tifffile and its codecs raise many types on damaged data
        raise _damaged(path, f"{type(err).__name__}: {err}") from err
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        raise _damaged(path, re.sub(r"^<[^>]*>\s*", "", handler.messages[0]))


def _check_codec(path: Path, page: Any) -> None:
    """Refuse a page whose compression this installation cannot decode, naming the codec."""
    compression = getattr(page, "compression", 1)
    if compression in (1, None):
        return
    try:
        available = compression in tifffile.TIFF.DECOMPRESSORS
    except Exception:  # an unknown code
        available = False
    if not available:
        name = getattr(compression, "name", None) or f"code {int(compression)}"
        raise FileFormatError(
            f"{path} is compressed with {name}, which this installation cannot decode; install the TIFF codecs "
            "(pip install imagecodecs) or save the file uncompressed or with zlib (deflate)"
        )


def _description(path: Path, page: Any, text: str) -> str | bytes:
    """``page``'s description, which tifffile read as ``text``, to write back: ``text`` where it is
    7-bit ASCII, as TIFF strings are; else (an instrument's µ or ° in UTF-8, Windows' cp1252 or
    Latin-1) its bytes in the file ``path`` as they were, trailing whitespace included; where they
    cannot be read back so, ``text`` in Latin-1 where that takes every character, else in UTF-8."""
    if text.isascii():
        return text
    tag = page.tags.get(270)
    with contextlib.suppress(OSError, AttributeError, TypeError):
        with open(path, "rb") as fh:
            fh.seek(tag.valueoffset)
            raw = fh.read(tag.count).rstrip(b"\0")
        for encoding in ("utf-8", "cp1252", "latin-1"):  # tifffile strips trailing whitespace from its text
            with contextlib.suppress(UnicodeDecodeError):
                if raw.decode(encoding).rstrip() == text.rstrip():
                    return raw
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


#: What a TIFF's JSON description may state of its recording (:func:`description_metadata`).
STATED_KEYS = ("wavelength_nm", "sampling_hz", "dark_counts")


def description_metadata(text: str) -> dict[str, Any]:
    """``wavelength_nm``, ``sampling_hz`` and ``dark_counts`` (each the first found, at any depth)
    of a TIFF image description that is JSON; ``{}`` for any other description."""
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else {}
    except ValueError:
        return {}
    found: dict[str, Any] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in STATED_KEYS and key not in found:
                    found[key] = value
                else:
                    visit(value)

    visit(doc)
    return found


class TiffRecording:
    """Series 0 of a TIFF file, read as (pages, H, W) in file order.

    ``shape`` is the series shape (e.g. (T, Z, Y, X)); pages are its 2D planes in C order.
    Uncompressed contiguous data are read a window at a time (:func:`file_pages`), other
    files are decoded page by page. A damaged or truncated file raises FileFormatError, also where
    tifffile itself would only log the damage and read fewer pages.
    """

    kind = "tiff"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        tif = None
        try:
            with _read_checked(path):
                try:
                    self._tif = tif = tifffile.TiffFile(path)
                except (tifffile.TiffFileError, ValueError) as err:
                    raise FileFormatError(
                        f"cannot read {path} as TIFF ({err}); check that it is a complete TIFF file, "
                        "e.g. by opening it in ImageJ"
                    ) from err
                self._setup()
        except BaseException:
            if tif is not None:
                tif.close()
            raise

    def _setup(self) -> None:
        tif, path = self._tif, self.path
        if not tif.series:
            raise FileFormatError(f"{path} holds no image data; check that this is the recording you meant")
        if len(tif.series) > 1:
            shapes = ", ".join(str(s.shape) for s in tif.series[:4])
            raise FileFormatError(
                f"{path} holds {len(tif.series)} image series ({shapes}); fluorodn denoises files with one "
                "series: save each series as its own file"
            )
        series = tif.series[0]
        self._series = series
        self.axes: str = series.axes
        self.shape: tuple[int, ...] = tuple(int(n) for n in series.shape)
        self.dtype = np.dtype(series.dtype)
        # samples stored as separate planes (S before YX, as tifffile writes a (3 or 4, H, W) array by
        # default) are grey pages in all but name; samples interleaved pixel by pixel (YXS) are
        # refused: colour, or the channels they are
        if "S" in self.axes and self.axes.index("S") != len(self.axes) - 3:
            samples = self.shape[self.axes.index("S")]
            if getattr(tif.pages.first, "photometric", None) not in _GREY:
                raise FileFormatError(
                    f"{path} stores {samples} samples per pixel (colour); fluorodn denoises single-channel "
                    "images: save the stack as separate grey-scale pages (with tifffile, photometric='minisblack')"
                )
            raise FileFormatError(
                f"{path} stores {samples} samples per pixel ({samples} channels interleaved pixel by pixel); "
                "fluorodn denoises single-channel images: save each channel as its own file, or as its own "
                "grey-scale pages (planes) of this one"
            )
        if len(self.shape) < 2 or self.dtype.kind not in "iuf" or 0 in self.shape:
            raise FileFormatError(
                f"{path} holds {self.dtype} data of shape {self.shape}; fluorodn needs real numbers in 2 or more "
                "dimensions: convert it to grey-scale pages of integers or floats first"
            )
        self.page_shape = (self.shape[-2], self.shape[-1])
        # the description names the columns' wavelengths (one per column, or the first and last), as
        # fluorodn's conversions and ``fluorodn example`` write it: each page is time x wavelength
        stated = description_metadata(str(getattr(tif.pages.first, "description", "") or ""))
        wl = stated.get("wavelength_nm")
        self.axes_known = isinstance(wl, list) and len(wl) in (2, self.page_shape[1])
        hz = stated.get("sampling_hz")
        #: the sampling rate the description states (Hz), or None
        self.rate_hz = (
            float(hz)
            if isinstance(hz, (int, float)) and not isinstance(hz, bool) and rate_refusal(float(hz)) is None
            else None
        )
        self.n_pages = math.prod(self.shape[:-2])
        self._contiguous: int | None = None
        size = tif.filehandle.size
        if series.dataoffset is not None:
            end = series.dataoffset + self.n_pages * self.page_shape[0] * self.page_shape[1] * self.dtype.itemsize
            if end > size:
                raise _damaged(path, f"its image data need {end} bytes, the file has {size}")
            self._contiguous = int(series.dataoffset)
        else:
            for page in series.pages:
                _check_codec(path, page)
                offsets, counts = getattr(page, "dataoffsets", ()), getattr(page, "databytecounts", ())
                ends = [o + n for o, n in zip(offsets, counts, strict=False)]
                if ends and max(ends) > size:
                    raise _damaged(path, f"page data end at byte {max(ends)}, the file has {size}")

    def pages(self) -> Iterator[np.ndarray]:
        """The 2D (H, W) planes of the series in file order, in the file's dtype.

        Pages are decoded one at a time under a lock that :meth:`close` takes too, so a file
        closed while another thread reads it (an interrupted run) ends the reading with
        ValueError instead of tifffile opening it again."""
        if self._contiguous is not None:
            stored = self.dtype.newbyteorder(self._tif.byteorder)
            yield from file_pages(self.path, self._contiguous, stored, self.page_shape, self.n_pages)
            return
        for k in range(len(self._series.pages)):
            with self._lock:
                if self._closed:
                    raise ValueError(f"{self.path} was closed while its pages were read")
                with _read_checked(self.path):
                    page = self._series.pages[k]
                    if page is None:
                        raise _damaged(self.path, f"page {k} is missing")
                    data = np.asarray(page.asarray()).reshape(-1, *self.page_shape)
            yield from data

    def close(self) -> None:
        """Release the file, once the page being decoded (if any) is done."""
        with self._lock:
            self._closed = True
            self._tif.close()

    # -- writing ----------------------------------------------------------------------

    def write(self, dest: Path, pages: Iterable[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]) -> None:
        """Write (H, W) ``pages`` of ``dtype`` to ``dest`` with this file's shape and metadata.

        A tiled input gives an output tiled alike (the pages are cut into tiles as they come);
        of a pyramid only the full-resolution series is written, which a UserWarning says."""
        tif = self._tif
        first: Any = tif.pages[0]
        software = f"fluorodn {provenance.get('fluorodn', '')}".strip()
        made_by = first.tags.valueof(305)  # the acquisition program's name stays beside fluorodn's
        if (
            isinstance(made_by, str)
            and made_by.strip()
            and made_by.isascii()
            and not made_by.startswith(("fluorodn", "tifffile"))  # fluorodn's own, or the library's (the example)
        ):
            software += f" (from {made_by.strip()})"
        kwargs: dict[str, Any] = {
            "shape": self.shape,
            "dtype": dtype,
            "photometric": "minisblack",
            "software": software,
        }
        resolution = getattr(first, "resolution", None)
        if resolution and all(r > 0 for r in resolution) and 282 in first.tags:
            kwargs["resolution"] = resolution
            kwargs["resolutionunit"] = first.resolutionunit
        kwargs.update(_compression_of(first))
        dt = first.tags.valueof(306)
        if isinstance(dt, str) and dt.strip():
            kwargs["datetime"] = dt
        imagej, ome = bool(tif.is_imagej), bool(tif.is_ome)
        if imagej:
            kwargs["metadata"] = self._imagej_metadata(provenance)
        elif ome and (xml := self._ome_xml(dtype, provenance, software)) is not None:
            # the input's own OME-XML, written as the description of a TIFF that tifffile
            # does not describe itself
            ome = False
            kwargs.update(description=xml, metadata=None, byteorder="<")
        elif ome:
            kwargs["metadata"] = self._ome_metadata(provenance)
        elif tif.is_shaped and tif.shaped_metadata:
            meta = {k: v for k, v in dict(tif.shaped_metadata[0]).items() if k != "shape"}
            kwargs["metadata"] = {**meta, "fluorodn": provenance}
            desc = first.description  # the user's own, in a tag before tifffile's JSON, is kept too
            if desc and not desc.lstrip().startswith("{"):
                kwargs["description"] = _description(self.path, first, desc)
        else:
            desc = first.description
            if desc:
                kwargs["description"] = _description(self.path, first, desc)
            kwargs["metadata"] = {"fluorodn": provenance}
        levels = len(getattr(self._series, "levels", ()) or ())
        if levels > 1:
            warnings.warn(
                f"the TIFF is a pyramid of {levels} resolution levels; only the full-resolution image is "
                f"denoised and written, not the {levels - 1} reduced level{'s' if levels > 2 else ''}",
                UserWarning,
                stacklevel=2,
            )
        tile = None if imagej else _tile_of(first)
        if tile is not None:
            kwargs["tile"] = tile
            pages = _tiles(pages, tile)
        nbytes = math.prod(self.shape) * np.dtype(dtype).itemsize
        if tile is not None:  # edge tiles are written whole
            h, w = self.page_shape
            padded = -(-h // tile[0]) * tile[0] * -(-w // tile[1]) * tile[1]
            nbytes = nbytes // (h * w) * padded
        bigtiff = not imagej and (tif.is_bigtiff or nbytes > _BIGTIFF_BYTES)
        byteorder = kwargs.pop("byteorder", None)
        with tifffile.TiffWriter(dest, bigtiff=bigtiff, byteorder=byteorder, imagej=imagej, ome=ome) as writer:
            writer.write(iter(pages), **kwargs)

    @property
    def compression(self) -> str | None:
        """The codec of the first page (e.g. ``"ADOBE_DEFLATE"``), or None if uncompressed."""
        code = getattr(self._tif.pages[0], "compression", 1)
        return None if code in (1, None) else getattr(code, "name", str(code))

    def _imagej_metadata(self, provenance: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (self._tif.imagej_metadata or {}).items() if k not in _IJ_COMPUTED}
        meta["axes"] = self.axes
        props = dict(meta.get("Properties") or {})
        props["fluorodn"] = json.dumps(provenance)
        meta["Properties"] = props
        return meta

    def _ome_xml(self, dtype: np.dtype, provenance: dict[str, Any], software: str) -> bytes | None:
        """The input's OME-XML for an output of ``dtype`` written in series order to one file, as
        UTF-8; None where it cannot be kept (XML that does not parse, a series tifffile did not
        read from it, planes of several samples, a pixel type OME has no name for).

        Everything is kept but what describes the stored pixels: the pixel type (and
        SignificantBits, BigEndian where stated) is the output's, the TiffData, BinData and
        MetadataOnly elements and plane hashes give way to one TiffData of all the output's
        pages, the file's UUID is new, and Images other than the series' are left out. The
        provenance is a map annotation of the image (one written before is replaced).
        """
        ome_type = _OME_TYPES.get(np.dtype(dtype).name)
        text = self._tif.ome_metadata
        if ome_type is None or not text or getattr(self._series, "kind", None) != "ome":
            return None
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return None
        if _local(root.tag) != "OME":
            return None
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        image = self._ome_image(root)
        if image is None:
            return None
        pixels = next(e for e in image if _local(e.tag) == "Pixels")
        pixels.set("Type", ome_type)
        if "SignificantBits" in pixels.attrib:
            pixels.set("SignificantBits", str(8 * np.dtype(dtype).itemsize))
        if "BigEndian" in pixels.attrib:
            pixels.set("BigEndian", "false")
        for child in list(pixels):
            if _local(child.tag) in ("TiffData", "BinData", "MetadataOnly"):
                pixels.remove(child)
            elif _local(child.tag) == "Plane":
                for sub in [e for e in child if _local(e.tag) == "HashSHA1"]:
                    child.remove(sub)
        at = 1 + max((i for i, e in enumerate(pixels) if _local(e.tag) == "Channel"), default=-1)
        pixels.insert(at, ET.Element(f"{ns}TiffData", {"IFD": "0", "PlaneCount": str(self.n_pages)}))
        root.set("UUID", f"urn:uuid:{uuid.uuid4()}")
        root.set("Creator", software)
        _annotate(root, image, ns, json.dumps(provenance))
        tags = [e.tag for e in root.iter() if isinstance(e.tag, str)]
        if ns and all(t.startswith("{") for t in tags):
            # the OME namespace as the default one, as OME-XML is written, not a prefix on every tag
            # (kept where some element has no namespace, which a default one would give it)
            for element in root.iter():
                if isinstance(element.tag, str) and element.tag.startswith(ns):
                    element.tag = element.tag[len(ns) :]
            root.attrib = {"xmlns": ns[1:-1], **root.attrib}
        body = ET.tostring(root, encoding="unicode")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")

    def _ome_image(self, root: ET.Element) -> ET.Element | None:
        """The Image element of ``root`` that holds series 0 (the first whose Pixels have the
        series' page size and page count, one sample per pixel), the other Images and the
        references to them removed; None if there is none."""
        found = None
        for image in [e for e in root if _local(e.tag) == "Image"]:
            pixels = next((e for e in image if _local(e.tag) == "Pixels"), None)
            if found is None and pixels is not None and self._holds_series(pixels):
                found = image
            else:
                root.remove(image)
                gone = image.get("ID")
                for parent in list(root.iter()):
                    for ref in [e for e in parent if _local(e.tag) == "ImageRef" and e.get("ID") == gone]:
                        parent.remove(ref)
        return found

    def _holds_series(self, pixels: ET.Element) -> bool:
        """Whether an OME Pixels element describes this file's series as pages of one sample."""
        try:
            sizes = {k: int(pixels.get(f"Size{k}", "")) for k in "XYZCT"}
        except ValueError:
            return False
        single = all(c.get("SamplesPerPixel", "1") == "1" for c in pixels if _local(c.tag) == "Channel")
        return (
            single
            and (sizes["Y"], sizes["X"]) == self.page_shape
            and sizes["Z"] * sizes["C"] * sizes["T"] == self.n_pages
        )

    def _ome_metadata(self, provenance: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"axes": self.axes}
        with contextlib.suppress(Exception):  # a partial OME description still gets provenance
            ome = tifffile.xml2dict(self._tif.ome_metadata or "")["OME"]
            image = ome["Image"][0] if isinstance(ome["Image"], list) else ome["Image"]
            pixels = image.get("Pixels", {})
            for key in ("Name", "Description"):
                if isinstance(image.get(key), str):
                    meta[key] = image[key]
            for key in _OME_PIXELS:
                if key in pixels:
                    meta[key] = pixels[key]
            channels = pixels.get("Channel", [])
            channels = channels if isinstance(channels, list) else [channels]
            names = [c.get("Name") for c in channels if isinstance(c, dict)]
            if names and all(isinstance(n, str) for n in names):
                meta["Channel"] = {"Name": names}
        meta["MapAnnotation"] = {"Namespace": "fluorodn/provenance", "fluorodn": json.dumps(provenance)}
        return meta


def _local(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _annotate(root: ET.Element, image: ET.Element, ns: str, value: str) -> None:
    """Add to ``image`` of the OME-XML ``root`` a map annotation of fluorodn's provenance
    ``value``, in place of the one a former run added."""
    annotations = next((e for e in root if _local(e.tag) == "StructuredAnnotations"), None)
    if annotations is None:
        annotations = ET.Element(f"{ns}StructuredAnnotations")
        at = next((i for i, e in enumerate(root) if _local(e.tag) in ("ROI", "BinaryOnly")), len(root))
        root.insert(at, annotations)
    for old in [e for e in annotations if e.get("Namespace") == _PROVENANCE_NS]:
        annotations.remove(old)
        for parent in list(root.iter()):
            for ref in [e for e in parent if _local(e.tag) == "AnnotationRef" and e.get("ID") == old.get("ID")]:
                parent.remove(ref)
    ids = {e.get("ID") for e in root.iter()}
    ident = next(f"Annotation:fluorodn:{k}" for k in range(len(ids) + 1) if f"Annotation:fluorodn:{k}" not in ids)
    ann = ET.SubElement(annotations, f"{ns}MapAnnotation", {"ID": ident, "Namespace": _PROVENANCE_NS})
    ET.SubElement(ET.SubElement(ann, f"{ns}Value"), f"{ns}M", {"K": "fluorodn"}).text = value
    ET.SubElement(image, f"{ns}AnnotationRef", {"ID": ident})


def _tile_of(page: Any) -> tuple[int, int] | None:
    """The (length, width) of ``page``'s 2D tiles, where tifffile can write tiles of that size."""
    if not getattr(page, "is_tiled", False) or getattr(page, "tiledepth", 1) > 1:
        return None
    tile = (int(page.tilelength), int(page.tilewidth))
    return tile if all(n > 0 and n % 16 == 0 for n in tile) else None


def _tiles(pages: Iterable[np.ndarray], tile: tuple[int, int]) -> Iterator[np.ndarray]:
    """The tiles of each (H, W) page in TIFF order (row by row), those at the right and bottom
    edges padded with zeros."""
    th, tw = tile
    for page in pages:
        page = np.asarray(page)
        h, w = page.shape
        for y in range(0, h, th):
            for x in range(0, w, tw):
                part = page[y : y + th, x : x + tw]
                if part.shape != tile:
                    full = np.zeros(tile, page.dtype)
                    full[: part.shape[0], : part.shape[1]] = part
                    part = full
                yield part


def _compression_of(page: Any) -> dict[str, Any]:
    """tifffile write arguments that compress an output like ``page``: its codec where lossless
    and available (its predictor, if any, chosen anew for the output's dtype), zlib for any
    other compressed input, nothing for an uncompressed one."""
    code = getattr(page, "compression", 1)
    if code in (1, None):
        return {}
    name = getattr(code, "name", "")
    lossless = [getattr(tifffile.COMPRESSION, n) for n in _LOSSLESS if hasattr(tifffile.COMPRESSION, n)]
    try:
        keep = code in lossless and code in tifffile.TIFF.COMPRESSORS
    except Exception:  # an unknown code
        keep = False
    predicted = getattr(page, "predictor", 1) not in (1, None)
    if keep:
        return {"compression": name.lower(), "predictor": True} if predicted else {"compression": name.lower()}
    return {"compression": "zlib", "predictor": True}


def read_provenance(path: Path) -> dict[str, Any] | None:
    """The provenance fluorodn wrote into a TIFF file, or None."""
    with tifffile.TiffFile(path) as tif:
        if tif.is_imagej:
            value = (tif.imagej_metadata or {}).get("Properties", {}).get("fluorodn")
            return json.loads(value) if value else None
        if tif.is_ome:
            text = tif.ome_metadata or ""
            if _PROVENANCE_NS not in text:
                return None
            anns = tifffile.xml2dict(text)["OME"]["StructuredAnnotations"]["MapAnnotation"]
            for ann in anns if isinstance(anns, list) else [anns]:
                if ann.get("Namespace") != _PROVENANCE_NS:  # the input's own map annotations
                    continue
                pairs = ann["Value"]["M"]
                for pair in pairs if isinstance(pairs, list) else [pairs]:
                    if pair.get("K") == "fluorodn":
                        return dict(json.loads(pair["value"]))
            return None
        for meta in tif.shaped_metadata or ():
            if "fluorodn" in meta:
                return dict(meta["fluorodn"])
    return None
