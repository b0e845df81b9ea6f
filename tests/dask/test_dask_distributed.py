"""fluorodn.dask on a dask.distributed LocalCluster of 2 worker processes."""

from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402

import fluorodn.dask as fdask  # noqa: E402
from fluorodn import Denoiser  # noqa: E402


def _cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture
def own_client():
    """A cluster of its own, for a test that kills one of its workers."""
    with _cluster() as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def big(recording):
    """(388, 244): enough chunks to spread over both workers."""
    return np.tile(recording, (4, 4)) + np.arange(244)[None, :] * 0.1


def test_equal_to_single_machine(client, dask_model, big):
    ref = Denoiser(str(dask_model)).run(big)
    y = fdask.denoise(da.from_array(big, chunks=(50, 70)), dask_model, device="cpu")
    got = client.compute(y).result(timeout=120)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    corr, corr_ref = big - got, big - ref
    np.testing.assert_allclose(corr, corr_ref, atol=1e-4 * float(np.abs(corr_ref).max()))
    # each worker process built the Denoiser once, although it ran many chunks
    loads = client.run(lambda: sum(__import__("fluorodn.dask").dask.LOADS.values()))
    assert all(n == 1 for n in loads.values()), loads
    assert y.npartitions > 2 * len(loads)


def test_worker_killed_mid_job(own_client, dask_model, big):
    """SIGKILL one worker process while the job runs: the job still completes, correctly."""
    client = own_client
    ref = Denoiser(str(dask_model)).run(big)

    def slow(block):  # nested, so it is pickled by value; makes the job last ~2 s
        time.sleep(0.1)
        return block

    y = fdask.denoise(da.from_array(big, chunks=(40, 61)), dask_model).map_blocks(slow, dtype=np.float32)
    pids = client.run(os.getpid)
    before = set(pids)
    fut = client.compute(y)

    def n_done(dask_scheduler):
        return sum(ts.state == "memory" for ts in dask_scheduler.tasks.values() if "slow" in str(ts.key))

    deadline = time.monotonic() + 60
    while client.run_on_scheduler(n_done) < 3:
        assert time.monotonic() < deadline, "job did not start"
        time.sleep(0.02)
    assert not fut.done()
    victim = next(iter(sorted(pids)))
    os.kill(pids[victim], signal.SIGKILL)

    got = fut.result(timeout=120)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    # the scheduler lost that worker (the nanny starts a new one in its place)
    assert victim not in set(client.scheduler_info()["workers"])
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before


def test_waiting_for_too_many_workers_fails_clearly(client, dask_model, recording, tmp_path, monkeypatch):
    zarr = pytest.importorskip("zarr")
    from fluorodn import FluorodnError

    monkeypatch.setattr(fdask, "WAIT_FOR_WORKERS_S", 0.5)
    src = tmp_path / "in.zarr"
    zarr.create_array(store=str(src), data=recording, chunks=(25, 61))
    with pytest.raises(FluorodnError, match="only 2 of 5 workers"):
        fdask.denoise_zarr(src, tmp_path / "out.zarr", model=dask_model, scheduler=client.scheduler.address,
                           workers=5)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]


def test_denoise_zarr_on_address(client, dask_model, recording, tmp_path):
    zarr = pytest.importorskip("zarr")
    src, dst = tmp_path / "in.zarr", tmp_path / "out.zarr"
    zarr.create_array(store=str(src), data=recording, chunks=(25, 61), attributes={"a": 1})
    addr = client.scheduler.address
    info = fdask.denoise_zarr(src, dst, model=dask_model, scheduler=addr, workers=2)
    assert info["scheduler"] == addr
    out, attrs = fdask.read_zarr(dst)
    ref = Denoiser(str(dask_model)).run(recording)
    np.testing.assert_allclose(out.compute(), ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert attrs["a"] == 1
    assert "fluorodn" in attrs
