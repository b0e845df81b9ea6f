"""Shared tools of the fault-injection suite: folder snapshots, CLI runs, child processes.

Every check here is about what a user of the ``fluorodn`` command sees and keeps: the
exit code, one sentence on stderr, the input files byte for byte, and the output folder
(complete outputs only, nothing partial, no temporary files).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.support import interruptible

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under ``folder``: relative path -> (sha256 or "dir", mode)."""
    state: dict[str, tuple[str, int]] = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        state[path.relative_to(folder).as_posix()] = (digest, st.st_mode)
    return state


def temporaries(folder: Path) -> list[Path]:
    """Temporary files fluorodn writes before an output gets its final name."""
    return sorted(p for p in folder.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp"))


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("fluorodn: error:")]


def assert_one_sentence(stderr: str, *fragments: str) -> str:
    """Exactly one ``fluorodn: error:`` line naming ``fragments``; nothing but fluorodn lines, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert all(ln.startswith("fluorodn: ") for ln in stderr.splitlines() if ln.strip()), stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def cli(*args: Any) -> Any:
    """Run the ``fluorodn`` command in this process (click's runner); returns its result."""
    from typer.testing import CliRunner

    from fluorodn.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}


def fluorodn_cmd(*args: Any) -> list[str]:
    return [sys.executable, "-m", "fluorodn", *(str(a) for a in args)]


def start(*args: Any, prefix: Sequence[str] = (), **kw: Any) -> subprocess.Popen[str]:
    """Start ``fluorodn ARGS`` as a child process with stdout and stderr captured."""
    return subprocess.Popen(
        [*prefix, *fluorodn_cmd(*args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        **(interruptible() | kw),
    )


def run(*args: Any, prefix: Sequence[str] = (), timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``fluorodn ARGS`` as a child process and wait for it."""
    return subprocess.run(
        [*prefix, *fluorodn_cmd(*args)], capture_output=True, text=True, env=child_env(), timeout=timeout, **kw
    )


#: Runs a command and reports its peak RSS. A small process of its own, because a child's
#: ru_maxrss starts from the RSS of the process that spawned it (vfork/fork before exec):
#: measured from pytest directly, the child would "use" pytest's memory.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"peak-rss-kib {usage.ru_maxrss} exit {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


def run_measured(args: Sequence[Any], timeout: float = 1800) -> tuple[int, float, float, str, str]:
    """Run ``fluorodn ARGS``; return (exit code, peak RSS in MB, seconds, stdout, stderr).

    The peak resident set size is the child's own (``os.wait4`` in a small launcher), so
    neither this process nor other children are counted.
    """
    if not hasattr(os, "wait4") or sys.platform == "darwin":
        pytest.skip("measures a child's peak memory with os.wait4 (Linux)")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *fluorodn_cmd(*args)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=timeout,
    )
    seconds = time.perf_counter() - t0
    *lines, report = proc.stderr.rstrip("\n").split("\n")
    _, kib, _, code = report.split()
    return int(code), int(kib) / 1024, seconds, proc.stdout, "\n".join(lines)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 300) -> None:
    """Poll ``condition`` until it holds; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"fluorodn ended (code {proc.returncode}) before the test could interrupt it:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for fluorodn to get going")
        time.sleep(0.005)


def interrupt(proc: subprocess.Popen[str], sig: int, timeout: float = 120) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"fluorodn did not stop within {timeout} s of signal {signal.Signals(sig).name}:\n{out}\n{err}")


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError):
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def unprivileged_prefix() -> list[str]:
    """A command prefix under which file permissions apply (root ignores them).

    Empty for ordinary users; for root, ``setpriv`` dropping the capabilities that
    override permissions. Skips the test where neither works.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("running as root without setpriv: cannot make a folder unwritable")
    if probe.returncode != 0:
        pytest.skip("running as root and setpriv cannot drop capabilities here")
    return prefix


@pytest.fixture(scope="session")
def rel() -> SimpleNamespace:
    """The helpers of this file (test modules cannot import a conftest)."""
    return SimpleNamespace(
        snapshot=snapshot,
        temporaries=temporaries,
        error_lines=error_lines,
        assert_one_sentence=assert_one_sentence,
        cli=cli,
        start=start,
        run=run,
        run_measured=run_measured,
        wait_for=wait_for,
        interrupt=interrupt,
        rss_mb=rss_mb,
        unprivileged_prefix=unprivileged_prefix,
        stack=stack,
    )


def stack(pages: int, rows: int = 64, cols: int = 64, seed: int = 0, dtype: Any = np.uint16) -> np.ndarray:
    """``pages`` Poisson-noise pages with a smooth spectrum and a slow drift (a stand-in recording)."""
    rng = np.random.default_rng(seed)
    w = np.linspace(-2, 2, cols)[None, None, :]
    t = np.linspace(0, 6, rows)[None, :, None]
    k = np.arange(pages)[:, None, None]
    rate = 200 * np.exp(-(w**2)) * (1 + 0.3 * np.sin(t + 0.01 * k)) + 20
    return rng.poisson(rate).astype(dtype)
