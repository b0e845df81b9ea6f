"""Overlap reading, denoising and writing: run an iterator ahead in a background thread.

onnxruntime, numpy and file reads release the GIL, so while the network computes one
page the next can be read. ``prefetch`` keeps at most ``depth`` items ahead (memory stays
bounded), re-raises the producer's exceptions in the consumer with their own type, and
stops the producer when the consumer stops early (an error, Ctrl-C, or ``close()``).

The producer sees the stop between two items, and the consumer waits for it to end (a
thread left running would be torn down inside onnxruntime or numpy when the interpreter
exits, which can abort or hang the process): the items should be quick to make, such as
pages read from a file, and long computations run in the consumer's thread, where Ctrl-C
interrupts them.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
#: Seconds the producer waits on a full queue before checking whether to stop.
_POLL_S = 0.05


def prefetch(items: Iterable[T], depth: int = 2, name: str = "fluorodn-prefetch") -> Iterator[T]:
    """Yield ``items`` in order while a background thread produces up to ``depth`` ahead."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as err:  # handed to the consumer, which re-raises it
            put((False, err))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = slots.get()
            if not ok:
                raise item  # type: ignore[misc]
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):  # free a slot so a blocked producer sees the stop flag
                slots.get_nowait()
            worker.join(_POLL_S)
