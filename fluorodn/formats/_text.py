"""Numbers in text: read a block of rows of decimal numbers, write rows at a given precision.

Spectrometer exports hold millions of decimal numbers ("1523.45", "-0,07").
:func:`parse_rows` reads rows of separated numbers with ``numpy.loadtxt`` (its C parser) and
finds the most decimals any number was written with, so that :func:`format_rows` gives
values back at the input's precision: a file read and written again is the same text
whenever its numbers have a fixed number of decimals.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["NumberStyle", "format_rows", "parse_rows"]

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True
_EXPONENT = re.compile(rb"[0-9.,][eE][+-]?[0-9]")


@dataclass(frozen=True)
class NumberStyle:
    """How the numbers of a file are written."""

    decimal: str
    """Decimal separator: "." or ","."""
    decimals: int
    """Digits after the decimal separator (fixed notation), or of the mantissa (exponent notation)."""
    exponent: bool = False
    """Whether numbers are written as mantissa and exponent (1.5E3)."""


class RowLengthError(ValueError):
    """A row holds another number of values than the first: ``row`` (0-based) and its ``count``."""

    def __init__(self, row: int, count: int, expected: int) -> None:
        super().__init__(f"row {row} holds {count} values, the first {expected}")
        self.row, self.count, self.expected = row, count, expected


def parse_rows(rows: list[bytes], decimal: str, sep: str) -> tuple[np.ndarray, NumberStyle]:
    """Rows of numbers separated by ``sep`` ("\\t", or " " for any run of spaces): (T, W) float64 and style.

    Raises RowLengthError when rows hold different numbers of values, ValueError when a
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
        raise
    return values, _style(block, decimal)


def _style(block: bytes, decimal: str) -> NumberStyle:
    """Decimals of the numbers in ``block`` (decimal point already "."): the most any number has."""
    exponent = (b"e" in block or b"E" in block) and _EXPONENT.search(block) is not None
    a = np.frombuffer(block + b" ", dtype=np.uint8)  # a non-digit after the last number
    alive = np.flatnonzero(a == 46)
    decimals = 0
    while alive.size:  # digits after each point: follow the points whose next character is a digit
        alive = alive[_DIGIT[a[alive + decimals + 1]]]
        decimals += 1 if alive.size else 0
    return NumberStyle(decimal, decimals, exponent)


def format_rows(values: np.ndarray, style: NumberStyle, sep: str) -> list[str]:
    """Each row of (T, W) ``values`` as text in ``style``, numbers separated by ``sep``."""
    one = f"%.{style.decimals}{'E' if style.exponent else 'f'}"
    fmt = sep.join([one] * values.shape[1])
    out = [fmt % tuple(r) for r in values.tolist()]
    if style.decimal == ",":
        out = [r.replace(".", ",") for r in out]
    return out
