"""Reads files with fluorodn's readers, one path per line of stdin, and answers each with a JSON line.

Run by ``test_fuzz_readers.py`` as a process of its own, so that what a mutated file does
to a reader is seen for what it is: a crash (a signal from a C library) ends this process,
a hang runs past the parent's timeout, a runaway allocation meets the address-space limit
set here. Answers: ``{"outcome": "read" | "refused" | "other", "detail": ...}``, where
"refused" is fluorodn's own error (the message is the detail) and "other" any other exception.
"""

from __future__ import annotations

import json
import sys
import traceback

#: Address space of this process: a reader that allocates more fails with MemoryError ("other").
ADDRESS_SPACE = 6 << 30
#: Data a file may declare and still be read in full; beyond, only opening is checked.
READ_BYTES_MAX = 256 << 20


def read(path: str) -> str:
    import numpy as np

    if path.endswith(".zarr"):
        import fluorodn.dask as fdask

        arr, _ = fdask.read_zarr(path)
        if arr.nbytes > READ_BYTES_MAX:
            return f"opened {arr.shape} {arr.dtype}, not read (large)"
        data = arr.compute(scheduler="synchronous")
        return f"read {data.shape} {data.dtype}"
    from fluorodn import io as fio

    rec = fio.open_recording(path)
    try:
        nbytes = rec.n_pages * rec.page_shape[0] * rec.page_shape[1] * np.dtype(rec.dtype).itemsize
        if nbytes > READ_BYTES_MAX:
            return f"opened {rec.shape} {rec.dtype}, not read (large)"
        n = 0
        for page in rec.pages():
            assert page.shape == rec.page_shape, (page.shape, rec.page_shape)
            np.asarray(page).sum()
            n += 1
        assert n == rec.n_pages, (n, rec.n_pages)
        return f"read {n} pages of {rec.page_shape} {rec.dtype}"
    finally:
        rec.close()


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):
        pass
    from fluorodn.errors import FluorodnError

    print(json.dumps({"outcome": "ready"}), flush=True)
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            answer = {"outcome": "read", "detail": read(path)}
        except FluorodnError as err:
            answer = {"outcome": "refused", "detail": str(err)}
        except BaseException as err:  # what the property forbids: reported with its traceback
            answer = {"outcome": "other", "detail": "".join(traceback.format_exception(err))}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
