"""Helpers shared by test modules (imported as ``tests.support``; pytest puts the repository
root on the path)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any


def interruptible() -> dict[str, Any]:
    """``subprocess.Popen`` keyword arguments that give a child Ctrl-C's default action, which a
    test that interrupts it needs: a suite started in the background of a shell (``cmd &``) runs
    with SIGINT ignored, and its children inherit that."""
    if os.name != "posix":
        return {}
    return {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}


def assert_user_error(result: Any, *fragments: str) -> None:
    """Exit code 1, one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def add_variant(folder: Path, name: str, helpers: Any, speedup: float | None = 2.5, **entry: Any) -> Path:
    """Give the shipped tiny model ``name`` an "int8" variant (a distinct tiny model standing in
    for the quantized file) and record it in its card like ``fluorodn_train quantize`` does."""
    path = helpers.build_model(
        folder / f"{name}.int8.onnx", seed=7, name=name, metadata=helpers.tiny_metadata(name, precision="int8")
    )
    card_path = folder / f"{name}.json"
    card = json.loads(card_path.read_text())
    card["variants"] = {
        "int8": {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "float_sha256": card["sha256"],
            "psnr_delta_db": 0.01,
            "coherence_delta": 0.001,
            "speedup_measured": speedup,
            "providers": ["CPUExecutionProvider"],
            **entry,
        }
    }
    card_path.write_text(json.dumps(card))
    return path


def hemodynamics_draws(fast_prob: float) -> Any:
    """Draws ``(rng, t, w, noise) -> instance`` of the widened generator with fast hemodynamics
    always (1) or never (0)."""
    from dataclasses import replace

    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    cfg = replace(WIDE, hemo_fast_prob=fast_prob)
    return lambda rng, t, w, ns: make_instance(rng, t, w, ns, signal=cfg)


def small_events_draws(rate: float, size: float) -> Any:
    """Draws ``(rng, t, w, noise) -> instance`` of the test signal (one sensor, the middle of each
    training range) with ``rate`` events a second of median size ``size``."""
    from dataclasses import replace

    from fluorodn_train.data import make_instance
    from fluorodn_train.evaluation.recordings import signal_config

    cfg = replace(signal_config(), event_rate=(rate, rate), event_size=(size, size))
    return lambda rng, t, w, ns: make_instance(rng, t, w, ns, signal=cfg)
