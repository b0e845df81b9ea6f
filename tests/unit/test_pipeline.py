"""prefetch: order, bounded read-ahead, exceptions and early stops reach the right side."""

from __future__ import annotations

import threading
import time

import pytest

from fluorodn._pipeline import prefetch


def test_order_and_completeness() -> None:
    assert list(prefetch(range(1000), depth=3)) == list(range(1000))
    assert list(prefetch([], depth=1)) == []


def test_read_ahead_is_bounded() -> None:
    produced: list[int] = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    it = prefetch(source(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)  # let the producer run as far as it may
    # one item consumed, two queued, one produced and waiting for a free slot
    assert len(produced) <= 4
    it.close()


def test_producer_exception_is_reraised_with_its_type() -> None:
    def source():
        yield 1
        raise ValueError("page index 1: bad page")

    it = prefetch(source())
    assert next(it) == 1
    with pytest.raises(ValueError, match="page index 1"):
        next(it)


def test_consumer_stop_closes_the_producer() -> None:
    closed = threading.Event()

    def source():
        try:
            for i in range(10**9):  # noqa: UP028 - a plain loop, closed from outside
                yield i
        finally:
            closed.set()

    it = prefetch(source(), depth=2)
    assert [next(it) for _ in range(5)] == list(range(5))
    it.close()
    assert closed.wait(2.0)
    assert not any(t.name == "fluorodn-prefetch" for t in threading.enumerate())


def test_reading_overlaps_with_the_consumer() -> None:
    def slow_source():
        for i in range(6):
            time.sleep(0.1)  # a read that releases the GIL, like file I/O
            yield i

    t0 = time.perf_counter()
    for _ in prefetch(slow_source(), depth=2):
        time.sleep(0.1)  # the consumer's own work (the network)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.95  # serial would take 1.2 s; overlapped about 0.7 s


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        list(prefetch([1], depth=0))
