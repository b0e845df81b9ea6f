"""The default model end to end through the CLI on a 2.5-hour recording, beside the image model.

One run writes a 44156 x 152 float32 TIFF of synthetic spectral photometry (the generator's
test stream) and times ``fluorodn denoise`` on it three ways, interleaved so that the load
of this machine hits every variant alike: the default (spectral path), ``--model low``
(the 2D DnCNN, float32), and ``--model high``, and a copy of the default's model whose
convolutions are 1D (:func:`conv1d_copy`: the same weights, as the network was trained),
to show what exporting them as 1 x 3 2D convolutions saves, and the default's shipped int8
variant (``--precision int8``; ``auto`` runs it only where it was measured faster). The speed
ratio of each to the default is the result; absolute seconds describe only this machine. Run::

    python -m benchmarks default-speed [--repeats 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import cli_command, run_child

RESULTS = Path(__file__).resolve().parent / "results"
#: A 2.5-hour session at 5 Hz.
SHAPE = (44156, 152)
VARIANTS = {
    "default": [],
    "spectral-only": ["--spectral-only"],
    "round-onsets": ["--round-onsets"],
    "low": ["--model", "low"],
    "high": ["--model", "high"],
}
#: The variant run with :func:`conv1d_copy` of the default's model.
CONV1D = "default, 1D convolutions"
#: The default's shipped int8 variant.
INT8 = "default, int8"


def conv1d_copy(src: Path, dst: Path) -> None:
    """Write ``src``'s spectral model with its 1 x k 2D convolutions as 1D convolutions.

    The network runs on (N, C, 1, T) one-row images between an ``Unsqueeze`` and a
    ``Squeeze`` of axis 2; the copy drops both and gives every convolution its 1D kernel,
    padding and dilation, so it computes the same values on (N, C, T).
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv"]
    producer = {o: n for n in g.node for o in n.output}
    first_in = producer[convs[0].input[0]]
    last_out = next(n for n in g.node if convs[-1].output[0] in n.input)
    if first_in.op_type != "Unsqueeze" or last_out.op_type != "Squeeze":
        raise ValueError(f"{src} does not run its network on one-row images")
    convs[0].input[0] = first_in.input[0]
    for n in g.node:
        n.input[:] = [convs[-1].output[0] if i == last_out.output[0] else i for i in n.input]
    for out in g.output:
        if out.name == last_out.output[0]:
            out.name = convs[-1].output[0]
    for n in convs:
        w = inits[n.input[1]]
        w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w)[:, :, 0, :], w.name))
        attrs = {a.name: list(a.ints) for a in n.attribute}
        del n.attribute[:]
        n.attribute.extend(
            [
                onnx.helper.make_attribute("kernel_shape", attrs["kernel_shape"][1:]),
                onnx.helper.make_attribute("pads", [attrs["pads"][1], attrs["pads"][3]]),
                onnx.helper.make_attribute("dilations", attrs.get("dilations", [1, 1])[1:]),
                onnx.helper.make_attribute("strides", [1]),
                onnx.helper.make_attribute("group", 1),
            ]
        )
    g.node.remove(first_in)
    g.node.remove(last_out)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for n in [n for n in g.node if n.op_type == "Constant" and n.output[0] not in used]:
        g.node.remove(n)  # the axes of the Unsqueeze and Squeeze
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))


def int8_facts() -> dict[str, Any]:
    """What the default's shipped int8 variant is: its file, how it was built and what its guard
    measured (from the card)."""
    from fluorodn.registry import model_variants

    entry = model_variants("default")["int8"]
    how = entry["quantization"]
    return {
        "file": entry["file"],
        "sha256": entry["sha256"],
        "float_layers": how["float_layers"],
        "qat_steps": how.get("qat", {}).get("steps"),
        "guard_speedup": entry["speedup_measured"],
    }


def recording(shape: tuple[int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    from fluorodn_train.data import TEST_STREAM, make_instance

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TEST_STREAM, 9)))
    return make_instance(rng, shape[0], shape[1], 0.4).noisy.astype(np.float32)


def domain_check_cost(threads: int, repeats: int = 3) -> dict[str, float]:
    """Seconds of the default's ``run`` on the 2.5 h recording and of its out-of-domain checks (the
    clipped values, whether the noise changes over time, then what was removed), and how many of its
    coefficient traces hold signal (the traces the network denoises)."""
    import warnings

    from fluorodn import Denoiser, DenoiserOptions, noise_change, spectral
    from fluorodn._engine import clipping_warning

    x = recording()
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=threads))
    proj = spectral.fit(x, den.channels)  # what removed_stats reads: centre, noise levels, correlation
    runs, checks = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            t0 = time.perf_counter()
            y = den.run(x)
            runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            clipping_warning(x)
            noise_change.change(x)
            spectral.removed_stats(x, y, proj)
            checks.append(time.perf_counter() - t0)
    run_s, checks_s = float(np.median(runs)), float(np.median(checks))
    signal = proj.components if proj.signal is None else int(proj.signal.sum())
    sparse = 0 if proj.sparse is None else int(proj.sparse.sum())
    return {
        "run_s": run_s,
        "checks_s": checks_s,
        "share": checks_s / run_s,
        "repeats": repeats,
        "signal_traces": signal,
        "sparse_traces": sparse,
        "traces": proj.components,
    }


def run(repeats: int = 3, out_dir: Path | None = None, threads: int = 2) -> dict[str, Any]:
    import tifffile

    from fluorodn.registry import load_model

    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = cli_command()
    rss: dict[str, float] = {}
    variants = {**VARIANTS, CONV1D: ["--model", "spectral_conv1d.onnx"], INT8: ["--precision", "int8"]}
    times: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "session.tif"
        tifffile.imwrite(src, recording(), photometric="minisblack")
        default = load_model("default")
        conv1d_copy(default.path, Path(tmp) / "spectral_conv1d.onnx")
        for _ in range(repeats):
            for name, extra in variants.items():
                dst = Path(tmp) / f"out_{name}.tif"
                res = run_child(
                    [
                        *cmd,
                        "denoise",
                        src.name,
                        "-o",
                        dst.name,
                        "--overwrite",
                        "--device",
                        "cpu",
                        "--threads",
                        str(threads),
                        *extra,
                    ],
                    cwd=Path(tmp),
                )
                if res["returncode"] != 0:
                    raise RuntimeError(f"fluorodn denoise {' '.join(extra)} failed: {res['output_tail']}")
                times[name].append(res["seconds"])
                rss[name] = max(rss.get(name, 0.0), res["peak_rss_mib"])
    med = {k: float(np.median(v)) for k, v in times.items()}
    fast = {k: float(np.min(v)) for k, v in times.items()}  # the least disturbed by the machine's load
    checks = domain_check_cost(threads)
    result = {
        "benchmark": "default-speed",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "threads": threads},
        "shape": list(SHAPE),
        "repeats": repeats,
        "seconds": times,
        "median_s": med,
        "fastest_s": fast,
        "peak_rss_mib": rss,
        "ratio_low_over_default": med["low"] / med["default"],
        "ratio_high_over_default": med["high"] / med["default"],
        "ratio_spectral_only_over_default": med["spectral-only"] / med["default"],
        "ratio_round_onsets_over_default": med["round-onsets"] / med["default"],
        "ratio_conv1d_over_default": med[CONV1D] / med["default"],
        "ratio_int8_over_default": med[INT8] / med["default"],
        "ratio_int8_over_default_fastest": fast[INT8] / fast["default"],
        "int8": int8_facts(),
        "domain_checks": checks,
    }
    (out_dir / "default_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# The default end to end through the CLI (2.5-hour recording)",
        "",
        f"`python -m benchmarks default-speed` on {result['created']}: `fluorodn denoise session.tif` on a "
        f"{SHAPE[0]} x {SHAPE[1]} float32 TIFF, CPU, {threads} threads, {repeats} interleaved repeats "
        "(median and fastest; process start, reading and writing included).",
        "",
        "| command | median s | fastest s | peak RSS MiB | time / default's (median) | (fastest) |",
        "|---|---|---|---|---|---|",
    ]
    for name, extra in variants.items():
        lines.append(
            f"| `fluorodn denoise session.tif {' '.join(extra)}` | {med[name]:.2f} | {fast[name]:.2f} | "
            f"{rss[name]:.0f} | {med[name] / med['default']:.2f} | {fast[name] / fast['default']:.2f} |"
        )
    lines += [
        "",
        f"In process, the default's `Denoiser.run` on the same recording takes {checks['run_s']:.2f} s, of which the "
        "out-of-domain checks (`_engine.clipping_warning`, `noise_change.change` and `spectral.removed_stats`) take "
        f"{checks['checks_s']:.3f} s "
        f"({100 * checks['share']:.1f} %; median of {checks['repeats']}). The network denoises "
        f"{checks['signal_traces']} of the recording's {checks['traces']} coefficient traces "
        "(`spectral.holds_signal`; the others hold noise only), and runs again, weaker, on the "
        f"{checks['sparse_traces']} that change sparsely (`spectral.changes_sparsely`), whose output the default "
        "takes around their large changes (`spectral.keep_onsets`).",
        "",
        "`--spectral-only`: the default's projection without its network (nothing filtered over time); "
        "the difference to the default is about what the network costs. `--round-onsets`: the full network "
        "everywhere, without that second run; the difference is what keeping the onsets costs. "
        "`spectral_conv1d.onnx`: the default's model with 1D convolutions (the same weights). "
        f"`--precision int8`: the default's shipped int8 variant (`{result['int8']['file']}`, "
        f"sha256 {result['int8']['sha256'][:12]}; convolutions in int8 but the "
        f"{' and '.join(result['int8']['float_layers'])}; its guard measured "
        f"{result['int8']['guard_speedup']:.2f}x the float model's speed, so `auto` runs it only where "
        "that reaches `fluorodn.registry.AUTO_MIN_SPEEDUP`).",
    ]
    (out_dir / "default_speed.md").write_text("\n".join(lines) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks default-speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = run(args.repeats, args.out, args.threads)
    print(json.dumps(res["median_s"]), f"low/default {res['ratio_low_over_default']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
