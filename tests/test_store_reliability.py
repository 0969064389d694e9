"""The audit trail under stress: concurrent writers lose nothing, a killed writer leaves nothing half-written.

Each test runs on SQLite and, when VEREDICTO_TEST_PG_URL points at a server
(`scripts/start_postgres.sh` starts one), on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest
from store_support import BACKENDS, fresh_store_url, python

from store.audit import AuditStore

WRITER = r"""
import glob, os, sys, time
url, writer, count, go, writers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
from store.audit import AuditStore     # import first, so that every writer is ready when the gate opens
open(f"{go}.ready-{writer}", "w").close()
while not os.path.exists(go):          # start together: maximum contention
    time.sleep(0.005)
store = AuditStore(url)                 # a brand-new store: the schema is created by whoever gets there first
for i in range(count):
    if i and i % (count // rounds) == 0:  # a barrier between rounds: no writer starts round r+1 before all finished round r,
        r = i // (count // rounds)        # so however the OS schedules them, every round interleaves all the writers
        open(f"{go}.round{r}-{writer}", "w").close()
        deadline = time.time() + 300
        while len(glob.glob(f"{go}.round{r}-*")) < writers:
            if time.time() > deadline:
                sys.exit(f"writer {writer}: the others never reached round {r}")
            time.sleep(0.005)
    store.append(reviewer=f"writer-{writer}", decision="approve", comment=f"{writer}:{i}",
                 checkpoint_name="m", checkpoint_path="/m", checkpoint_fingerprint=f"{writer:064x}",
                 dataset_name="d", dataset_fingerprint="d" * 64, metrics={"i": i, "writer": writer},
                 gates=[{"key": "min_macro_f1", "status": "pass"}])
print("done", flush=True)
"""


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    url, cleanup = fresh_store_url(request.param, tmp_path)
    yield url
    cleanup()


def test_eight_processes_writing_fifty_each_lose_nothing_and_the_chain_verifies(store_url, tmp_path):
    go = tmp_path / "go"
    rounds = 5
    writers = [python(WRITER, store_url, str(w), "50", str(go), "8", str(rounds), stdout=-1, stderr=-1) for w in range(8)]
    deadline = time.time() + 300
    while len(list(tmp_path.glob("go.ready-*"))) < 8 and time.time() < deadline:  # every writer imported and waiting
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=600) for p in writers]
    for p, (out, err) in zip(writers, outputs):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "done"

    store = AuditStore(store_url)
    result = store.verify()
    assert result.ok, str(result)
    assert result.records == 400 and store.count() == 400
    records = store.records()
    assert [r.seq for r in records] == list(range(1, 401))
    written = [tuple(map(int, r.comment.split(":"))) for r in records]
    assert sorted(written) == [(w, i) for w in range(8) for i in range(50)]  # every sign-off exactly once
    for w in range(8):  # each writer's records appear in the order it wrote them
        assert [i for (ww, i) in written if ww == w] == list(range(50))
    for r in range(rounds):  # the barrier held: each round's 80 records are all eight writers' records of that round
        assert sorted(written[r * 80 : (r + 1) * 80]) == [(w, i) for w in range(8) for i in range(r * 10, (r + 1) * 10)]
    switches = sum(1 for a, b in itertools.pairwise(written) if a[0] != b[0])
    assert switches > 7, "the writers ran one after another; the test did not exercise contention"
    assert all(r.prev_hash == p.record_hash for p, r in itertools.pairwise(records))
    assert store.head() == (400, records[-1].record_hash)


HOLDER = r"""
import sys, time
url = sys.argv[1]
from store.audit import AuditStore
store = AuditStore(url)
with store._transaction(write=True) as conn:   # the transaction append() uses
    store._insert(conn, reviewer="mallory", decision="approve", checkpoint_name="m", checkpoint_path="/m",
                  checkpoint_fingerprint="f" * 64, dataset_name="d", dataset_fingerprint="d" * 64)
    print("inserted", flush=True)               # the row is written, the head moved, nothing committed
    time.sleep(600)
"""


def test_writer_killed_mid_transaction_leaves_no_partial_record(store_url):
    store = AuditStore(store_url)
    for i in range(3):
        store.append(
            reviewer="alice",
            decision="approve",
            comment=str(i),
            checkpoint_name="m",
            checkpoint_path="/m",
            checkpoint_fingerprint="a" * 64,
            dataset_name="d",
            dataset_fingerprint="d" * 64,
        )
    holder = python(HOLDER, store_url, stdout=-1, stderr=-1)
    try:
        assert holder.stdout.readline().strip() == "inserted", holder.stderr.read()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == -signal.SIGKILL

    reopened = AuditStore(store_url)
    assert reopened.count() == 3
    assert [r.reviewer for r in reopened.records()] == ["alice"] * 3  # mallory's row never became visible
    assert reopened.verify().ok
    record = reopened.append(
        reviewer="bob",
        decision="approve",
        checkpoint_name="m",
        checkpoint_path="/m",
        checkpoint_fingerprint="a" * 64,
        dataset_name="d",
        dataset_fingerprint="d" * 64,
    )
    assert record.seq == 4  # the lock was released and the chain continues where it was
    assert reopened.verify().ok and reopened.verify().records == 4


LOOPER = r"""
import sys
url = sys.argv[1]
from store.audit import AuditStore
store = AuditStore(url)
i = 0
while True:
    store.append(reviewer="loop", decision="approve", comment=str(i), checkpoint_name="m", checkpoint_path="/m",
                 checkpoint_fingerprint="c" * 64, dataset_name="d", dataset_fingerprint="d" * 64,
                 metrics={"padding": "x" * 4000})   # big enough that a kill often lands mid-write
    print(i, flush=True)
    i += 1
"""


def test_writer_killed_at_random_points_never_breaks_the_chain(store_url):
    import random

    rng = random.Random(7)
    AuditStore(store_url)
    for _round in range(3):
        looper = python(LOOPER, store_url, stdout=-1, stderr=-1)
        try:
            for _ in range(rng.randint(5, 25)):
                line = looper.stdout.readline()
                assert line, looper.stderr.read()
            time.sleep(rng.random() * 0.02)
            os.kill(looper.pid, signal.SIGKILL)
            looper.wait(timeout=30)
        finally:
            if looper.poll() is None:
                looper.kill()
        store = AuditStore(store_url)
        result = store.verify()
        assert result.ok, str(result)
        assert [r.seq for r in store.records()] == list(range(1, store.count() + 1))
        assert store.head()[0] == store.count()
