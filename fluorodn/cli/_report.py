"""What a run of ``fluorodn denoise`` tells: a line per output and a summary, or one JSON document."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from fluorodn import __version__
from fluorodn.cli._common import file_error, format_traceback


class Report:
    """What a run tells: a line per output and a summary on stdout, or one JSON document (--json);
    notes, warnings and errors on stderr (notes not with --quiet or --json)."""

    def __init__(self, quiet: bool = False, as_json: bool = False, dry_run: bool = False) -> None:
        self.quiet, self.as_json, self.dry_run = quiet, as_json, dry_run
        self.files: list[dict[str, Any]] = []
        self.model: dict[str, Any] | None = None
        self.summary_text: str | None = None
        self.error: str | None = None
        """The error that ended the command before its files were done (--json's ``error``)."""
        self.interrupted = False
        self.t0 = time.perf_counter()
        self.reports_s = 0.0
        """Seconds spent writing HTML reports (--report), which the summary's rate leaves out."""
        self.to_stderr: Callable[[str], None] = lambda text: typer.echo(text, err=True)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f["status"] == status)

    def note(self, text: str) -> None:
        if not (self.quiet or self.as_json):
            self.to_stderr(f"fluorodn: {text}")

    def out(self, text: str) -> None:
        if not (self.quiet or self.as_json):
            typer.echo(text)

    def failed(self, src: Path, dest: Path | None, err: BaseException, *, warnings: list[str] | None = None,
               shape: tuple[int, int] | None = None, debug: bool = False, fill_hint: bool = True) -> None:  # fmt: skip
        message = file_error(src, err, shape, fill_hint)
        self.files.append({"input": str(src), "output": None if dest is None else str(dest), "status": "failed",
                           "error": message, "warnings": warnings or []})  # fmt: skip
        self.warn(src, warnings or [])
        self.to_stderr(f"fluorodn: error: {message}")
        if debug:
            self.to_stderr(format_traceback(err))

    def warn(self, src: Path, messages: list[str]) -> None:
        """One line for all the warnings one file raised."""
        if messages:
            self.to_stderr(f"fluorodn: warning: {src}: {'; '.join(messages)}")

    def skipped(self, src: Path, dest: Path, reason: str) -> None:
        self.files.append({"input": str(src), "output": str(dest), "status": "skipped", "reason": reason})

    def planned(self, src: Path, dest: Path, header: dict[str, Any]) -> None:
        self.files.append({"input": str(src), "output": str(dest), "status": "planned", **header})
        pages = header["pages"]
        shape = " x ".join(str(n) for n in header["shape"])
        self.out(f"{src} -> {dest} ({shape} {header['dtype']}, {pages} page{'s' if pages != 1 else ''})")

    def done(self, result: Any, messages: list[str]) -> None:
        self.files.append({
            "input": str(result.source), "output": str(result.output), "status": "denoised",
            "path": page_path(result), "frames": result.frames, "pixels": result.pixels,
            "seconds": round(result.seconds, 3),
            "filled": result.filled, "despiked": result.despiked, "model": result.model, "warnings": messages,
        })  # fmt: skip
        if n := result.despiked:
            self.note(f"{result.source}: replaced {n} isolated spike{'s' if n != 1 else ''} before denoising "
                      "(--spikes fill)")  # fmt: skip
        self.warn(result.source, messages)
        self.out(f"{result.source} -> {result.output}")

    def finish(self) -> int:
        """Print the summary (or the JSON document); the exit code: 1 if a file failed."""
        failed = self.count("failed")
        code = 130 if self.interrupted else (1 if failed else 0)
        if self.as_json:
            doc = {
                "fluorodn": __version__,
                "dry_run": self.dry_run,
                "interrupted": self.interrupted,
                "model": self.model,
                **({"error": self.error} if self.error is not None else {}),
                "files": self.files,
                **{k: self.count(s) for k, s in (("denoised", "denoised"), ("planned", "planned"),
                                                 ("skipped", "skipped"), ("failed", "failed"))},
                "seconds": round(time.perf_counter() - self.t0, 3),
                **({"report_seconds": round(self.reports_s, 3)} if self.reports_s else {}),
            }  # fmt: skip
            typer.echo(json.dumps(doc, indent=2))
        elif not self.quiet:
            typer.echo(self.summary_text or self._summary())
        return code

    def _summary(self) -> str:
        skipped, failed = self.count("skipped"), self.count("failed")
        tail = []
        if skipped:
            tail.append(f"{skipped} skipped (output exists)")
        if failed:
            tail.append(f"{failed} {'would fail' if self.dry_run else 'failed'}")
        if self.dry_run:
            n = self.count("planned")
            head = f"Dry run: would denoise {n} file{'s' if n != 1 else ''}"
            if self.files and n:
                head += _where(self.files, "planned")
            return "; ".join([head, *tail]) + "."
        done = [f for f in self.files if f["status"] == "denoised"]
        if not done:
            return "; ".join(["No file denoised", *tail]) + "."
        recordings = sum(f["frames"] for f in done if f.get("path") == "spectral")
        frames, pixels = sum(f["frames"] for f in done) - recordings, sum(f["pixels"] for f in done)
        seconds = time.perf_counter() - self.t0 - self.reports_s
        rate = pixels / 1e6 / seconds if seconds > 0 else 0.0
        if self.reports_s:
            tail.insert(0, f"reports written in {self.reports_s:.1f} s more")
        unit = "Mpx" if frames else "M values"
        what = ", ".join(count_pages(n, spectral) for n, spectral in ((recordings, True), (frames, False)) if n)
        model = self.model or {}
        ran = sorted({str(f.get("model") or model.get("name")) for f in done})  # a spectral model hands frames on
        models = f"model {ran[0]}" if len(ran) == 1 else f"models {', '.join(ran)}"
        head = (
            f"Denoised {len(done)} file{'s' if len(done) != 1 else ''} ({what or '0 frames'}, "
            f"{pixels / 1e6:.2f} {unit}) in {seconds:.1f} s ({rate:.2f} {unit}/s) with {models} on "
            f"{model.get('provider')}{_where(self.files, 'denoised')}"
        )
        return "; ".join([head, *tail]) + "."


def page_path(result: Any) -> str:
    """The path a file's pages took: ``"spectral"`` (each page a recording, time x wavelength) or
    ``"image"`` (each page a frame), from the record written into its output."""
    return "spectral" if "components" in result.provenance else "image"


def count_pages(n: int, spectral: bool) -> str:
    """``n`` pages as what they were denoised as: recordings or frames."""
    word = "recording" if spectral else "frame"
    return f"{n} {word}{'s' if n != 1 else ''}"


def _where(files: list[dict[str, Any]], status: str) -> str:
    """Where the outputs of ``status`` went, for the summary: one file, one folder, or beside the inputs."""
    outs = [Path(f["output"]) for f in files if f["status"] == status]
    if len(outs) == 1:
        return f" -> {outs[0]}"
    folders = {p.parent for p in outs}
    if len(folders) == 1:
        folder = next(iter(folders))
        return " into the current folder" if str(folder) == os.curdir else f" into {folder}"
    ins = [Path(f["input"]).parent for f in files if f["status"] == status]
    if all(o.parent == i for o, i in zip(outs, ins, strict=True)):
        return ", each beside its input"
    given = [str(p) for p in folders]
    try:  # as the outputs were named (relative where they are), else absolute
        common = os.path.commonpath(given)
    except ValueError:  # relative and absolute folders, or other drives
        common = os.path.commonpath([os.path.abspath(p) for p in given])
    return f" under {common or os.curdir}"
