"""The progress throttle: a scoring loop of many batches sends a bar update at most a few times a second (issue 12),
and the bar still starts at once and ends full. The clock is injected: no wall-clock time here."""

from __future__ import annotations

from dashboard.progress import throttled


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_within_a_quarter_second_are_dropped_but_the_first_and_the_last_pass():
    clock, seen = Clock(), []
    progress = throttled(lambda done, total: seen.append(done), per_second=4, clock=clock)
    for i in range(94):  # 94 batches of 32 (the last one short), one every 10 ms: 0.94 s in all
        clock.now = 100.0 + i / 100
        progress(min(32 * (i + 1), 3000), 3000)
    progress(3000, 3000)
    # hand count: calls at t = 0.00, 0.25, 0.50, 0.75 (s after the first) pass, then every done >= total
    assert seen == [32, 32 * 26, 32 * 51, 32 * 76, 3000, 3000]


def test_slow_batches_are_all_shown():
    clock, seen = Clock(), []
    progress = throttled(lambda done, total: seen.append((done, total)), per_second=4, clock=clock)
    for done in (10, 20, 30):
        progress(done, 30)
        clock.now += 0.3
    assert seen == [(10, 30), (20, 30), (30, 30)]
