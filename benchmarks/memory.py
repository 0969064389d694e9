"""Peak memory of a piece of code run in a fresh Python process, for comparing two ways of reading one file.

    seconds, peak_mib, printed = peak("from privacy.pii import ...; ...")

The child's `resource.getrusage(RUSAGE_SELF).ru_maxrss` (KiB on Linux) is its high-water mark, so each measurement
needs its own process: in one process the first, larger reading would hide the second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = "\nimport resource as _r\nprint('PEAK_KIB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)\n"


def peak(code: str) -> tuple[float, float, str]:
    """(wall seconds, peak resident MiB, what the code printed) of `code` run with the repository on sys.path."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}{REPORT}"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    return seconds, int(lines[-1].split()[1]) / 1024, "\n".join(lines[:-1])
