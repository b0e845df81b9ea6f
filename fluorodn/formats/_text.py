"""Numbers in text: read a block of rows of decimal numbers, write rows at the precision they were read.

Spectrometer exports hold millions of decimal numbers ("1523.45", "-0,07").
:func:`parse_rows` reads rows of separated numbers with ``numpy.loadtxt`` (its C parser) and
finds how they were written: fixed notation with the most decimals any number has, or
mantissa and exponent (``1.5E3``); the spelling of exponents and of non-finite values
(``NaN``, ``Infinity``); and, where most numbers are written one way and a few the other
(``1.2E-4`` among ``0.35``), each of the few with the place of its last digit.
:func:`format_rows` gives values back that way: a file read and written again is the same
text whenever its numbers of each notation have a fixed number of digits, and no value is
written less precisely than its number in the input.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NumberStyle", "Others", "RowLengthError", "format_rows", "parse_rows"]

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True
#: Bytes of numbers in fixed or exponent notation and of their separators: anything else is a letter
#: of a non-finite value (nan, inf, Infinity) or not a number at all.
_NUMERIC = b"0123456789.,+-eE \t\r\n"
_NAN = re.compile(rb"[+-]?([Nn][Aa][Nn])")
_INF = re.compile(rb"[+-]?([Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)")
_EXP_ONE_DIGIT = re.compile(rb"[eE][+-]?[0-9](?![0-9])")
_EXP_TWO_DIGITS = re.compile(rb"[eE][+-]?[0-9]{2}(?![0-9])")
_EXP_POSITIVE = re.compile(rb"[eE](?!-)")
_EXP_TEXT = re.compile(r"[eE]([+-])([0-9]+)")


@dataclass(frozen=True)
class Others:
    """Numbers written in the other notation than the file's (a few ``1.2E-4`` among fixed numbers).

    Tied to the (T, W) ``shape`` of the values read: ``index`` the flat positions (row * W +
    column, increasing) of those numbers, ``place`` the power of ten of each one's last digit
    (``1.2E-4``: -5; ``0.35``: -2), ``read`` their values. Written again, such a number keeps its
    notation; an unchanged value keeps its digits, a new one gets as many as the finer of its own
    and the file's other numbers.
    """

    shape: tuple[int, int]
    index: np.ndarray
    place: np.ndarray
    read: np.ndarray


@dataclass(frozen=True)
class NumberStyle:
    """How the numbers of a file are written."""

    decimal: str
    """Decimal separator: "." or ","."""
    decimals: int
    """Digits after the decimal separator (fixed notation), or of the mantissa (exponent notation)."""
    exponent: bool = False
    """Whether numbers are written as mantissa and exponent (1.5E3)."""
    exp_letter: str = "E"
    """The letter before an exponent: "E" or "e"."""
    exp_plus: bool = True
    """Whether a positive exponent has a "+" (C's 1.5E+03; Java writes 1.5E3)."""
    exp_width: int = 2
    """Fewest digits of an exponent, zero-padded (C: 2; Java: 1)."""
    nan: str = "nan"
    """How a NaN is spelled ("nan", "NaN", ...)."""
    inf: str = "inf"
    """How an infinity is spelled, without its sign ("inf", "Infinity", ...)."""
    others: Others | None = field(default=None, compare=False, repr=False)
    """The numbers written in the other notation, or None where all are written one way."""


class RowLengthError(ValueError):
    """A row holds another number of values than the first: ``row`` (0-based) and its ``count``."""

    def __init__(self, row: int, count: int, expected: int) -> None:
        super().__init__(f"row {row} holds {count} values, the first {expected}")
        self.row, self.count, self.expected = row, count, expected


class NotANumberError(ValueError):
    """A value is not a number: its ``row`` and ``column`` (0-based) and its ``text``."""

    def __init__(self, row: int, column: int, text: str) -> None:
        super().__init__(f"row {row}, value {column}: {text!r} is not a number")
        self.row, self.column, self.text = row, column, text


def parse_rows(rows: list[bytes], decimal: str, sep: str) -> tuple[np.ndarray, NumberStyle]:
    """Rows of numbers separated by ``sep`` ("\\t", or " " for any run of spaces): (T, W) float64 and style.

    Raises RowLengthError when rows hold different numbers of values, NotANumberError when a
    value is not a number.
    """
    block = b"\n".join(rows)
    if decimal == ",":
        block = block.replace(b",", b".")
    try:
        values = np.loadtxt(
            io.BytesIO(block), dtype=np.float64, delimiter="\t" if sep == "\t" else None, ndmin=2, comments=None
        )
    except ValueError as err:
        counts = [len(r.split(b"\t") if sep == "\t" else r.split()) for r in rows]
        bad = next((i for i, c in enumerate(counts) if c != counts[0]), None)
        if bad is not None:
            raise RowLengthError(bad, counts[bad], counts[0]) from err
        for i, row in enumerate(block.split(b"\n")):
            for j, field in enumerate(row.split(b"\t") if sep == "\t" else row.split()):
                try:
                    float(field)
                except ValueError:
                    text = rows[i].split(b"\t")[j] if sep == "\t" else rows[i].split()[j]
                    raise NotANumberError(i, j, text.decode("utf-8", "replace").strip()) from err
        raise
    return values, _style(rows, block, values, decimal, sep)


def _decimals(block: bytes) -> int:
    """The most digits after a decimal point (".") of any number in ``block``."""
    a = np.frombuffer(block + b" ", dtype=np.uint8)  # a non-digit after the last number
    alive = np.flatnonzero(a == 46)
    decimals = 0
    while alive.size:  # digits after each point: follow the points whose next character is a digit
        alive = alive[_DIGIT[a[alive + decimals + 1]]]
        decimals += 1 if alive.size else 0
    return decimals


def _token(token: bytes) -> tuple[bool, int, int]:
    """Whether ``token`` (decimal point ".") is in exponent notation, its digits after the point (of the
    mantissa), and its exponent (0 in fixed notation)."""
    mantissa, e, exp = token.upper().partition(b"E")
    point = mantissa.find(b".")
    return bool(e), len(mantissa) - point - 1 if point >= 0 else 0, int(exp) if e else 0


def _style(rows: list[bytes], block: bytes, values: np.ndarray, decimal: str, sep: str) -> NumberStyle:
    """How the numbers of ``rows`` (``block``: the rows joined, decimal point already ".") are written."""
    nan, inf = "nan", "inf"
    if block.translate(None, _NUMERIC):  # letters other than an exponent's: non-finite values
        m = _NAN.search(block)
        nan = m.group(1).decode("ascii") if m else nan
        m = _INF.search(block)
        inf = m.group(1).decode("ascii") if m else inf
    n_exp = block.count(b"e") + block.count(b"E")
    if n_exp == 0:
        return NumberStyle(decimal, _decimals(block), nan=nan, inf=inf)
    width = 1 if _EXP_ONE_DIGIT.search(block) else 2 if _EXP_TWO_DIGITS.search(block) else 3
    plus = b"+" in block if _EXP_POSITIVE.search(block) else width >= 2
    letter = "E" if block.count(b"E") >= block.count(b"e") else "e"
    finite = int(np.count_nonzero(np.isfinite(values)))
    exponent = 2 * n_exp > finite  # the notation of most numbers; the others keep their own digits
    others = None
    digits = 0
    if n_exp < finite:
        w = values.shape[1]
        plain: list[bytes] = []
        index: list[int] = []
        place: list[int] = []
        for r, row in enumerate(rows):
            in_row = row.count(b"e") + row.count(b"E")
            if in_row == (w if exponent else 0):
                plain.append(row)
                continue
            text = row.replace(b",", b".") if decimal == "," else row
            for c, token in enumerate(text.split(b"\t") if sep == "\t" else text.split()):
                if token.translate(None, _NUMERIC):  # a non-finite value
                    continue
                is_exp, after, exp = _token(token)
                if is_exp == exponent:
                    digits = max(digits, after)
                else:
                    index.append(r * w + c)
                    place.append(exp - after)
        block = b"\n".join(plain)
        if decimal == ",":
            block = block.replace(b",", b".")
        flat = np.array(index, dtype=np.int64)
        others = Others(values.shape, flat, np.array(place, dtype=np.int64), values.reshape(-1)[flat])
    digits = max(digits, _decimals(block))
    return NumberStyle(decimal, digits, exponent, letter, plus, width, nan, inf, others)


def _respell(text: str, style: NumberStyle) -> str:
    """Python's exponents (``E+03``, ``E-04``) spelled as ``style`` spells them."""

    def one(m: re.Match[str]) -> str:
        sign = "-" if m.group(1) == "-" else "+" if style.exp_plus else ""
        return f"{style.exp_letter}{sign}{int(m.group(2)):0{style.exp_width}d}"

    return _EXP_TEXT.sub(one, text)


def _power(v: float) -> int:
    """The power of ten of the first digit of ``v`` (not 0)."""
    return int(f"{v:.17E}".partition("E")[2])


def _exponent_at(v: float, place: int, style: NumberStyle) -> str:
    """``v`` in exponent notation with its last digit at 10**``place`` (at least the mantissa's first)."""
    if v == 0:
        return _respell(f"{v:.0E}", style)
    e = _power(v)
    text = f"{v:.{max(0, e - place)}E}"
    got = int(text.partition("E")[2])
    if got != e:  # rounding carried into the next power of ten
        text = f"{v:.{max(0, got - place)}E}"
    return _respell(text, style)


def _one(v: float, style: NumberStyle, other: tuple[int, float] | None) -> str:
    """One value as ``style`` writes it; ``other``: the last digit's power of ten and the value read of
    a number written in the other notation (see :class:`Others`)."""
    if math.isnan(v):
        return style.nan
    if math.isinf(v):
        return style.inf if v > 0 else "-" + style.inf
    if other is None:
        if style.exponent:
            return _respell(f"{v:.{style.decimals}E}", style)
        return f"{v:.{style.decimals}f}"
    place, read = other
    if v != read and v != 0:  # a new value: no coarser than the file's other numbers
        place = min(place, _power(v) - style.decimals if style.exponent else -style.decimals)
    if style.exponent:  # a fixed number among exponents
        return f"{v:.{max(0, -place)}f}"
    return _exponent_at(v, place, style)


def format_rows(values: np.ndarray, style: NumberStyle, sep: str) -> list[str]:
    """Each row of (T, W) ``values`` as text in ``style``, numbers separated by ``sep``."""
    values = np.asarray(values, dtype=np.float64)
    t, w = values.shape
    others = style.others
    if others is not None and others.shape != (t, w):
        raise ValueError(f"values of shape {values.shape} do not fit the numbers read ({others.shape})")
    one = f"%.{style.decimals}{style.exp_letter if style.exponent else 'f'}"
    fmt = sep.join([one] * w)
    out = [fmt % tuple(r) for r in values.tolist()]
    if style.exponent and (not style.exp_plus or style.exp_width != 2):
        out = [_respell(r, style) for r in out]
    special: dict[int, dict[int, tuple[int, float]]] = {
        int(r): {} for r in np.flatnonzero(~np.isfinite(values).all(axis=1))
    }
    if others is not None:
        for flat, p, x in zip(others.index.tolist(), others.place.tolist(), others.read.tolist(), strict=True):
            special.setdefault(flat // w, {})[flat % w] = (p, x)
    for r, places in special.items():
        row = values[r].tolist()
        out[r] = sep.join(_one(v, style, places.get(c)) for c, v in enumerate(row))
    if style.decimal == ",":
        out = [r.replace(".", ",") for r in out]
    return out
