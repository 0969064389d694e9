"""Progress callbacks for the page's bars, throttled: a bar update is a message to the browser, and the scoring loop
should not pay for more of them than a person can see (no Streamlit here: unit-tested with an injected clock)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from models.protocol import Progress

UPDATES_PER_SECOND = 4


def throttled(progress: Progress, *, per_second: float = UPDATES_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> Progress:
    """`progress`, passed on at most `per_second` times a second; the first call and the last (`done >= total`) always
    pass, so a bar starts moving at once and ends full."""
    every = 1.0 / per_second
    last = -math.inf

    def call(done: int, total: int) -> None:
        nonlocal last
        now = clock()
        if done >= total or now - last >= every:
            last = now
            progress(done, total)

    return call
