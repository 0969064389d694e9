"""The results store: rows come back bit-identical by position, keys never mix, bad files are moved aside, an unwritable folder is a clear error."""

from __future__ import annotations

import os
import sqlite3
import threading

import numpy as np
import pytest

from explain.cache import text_hash
from store.results import FILENAME, FORMAT, SCHEMA_VERSION, ResultsStore, StoreError, StoreUnavailable

KEY = "a" * 64


def rows(n, width=2, seed=0):
    return np.random.default_rng(seed).random((n, width), dtype=np.float32)


def test_put_then_get_returns_identical_rows_by_position_also_after_a_reopen(tmp_path):
    store = ResultsStore(tmp_path)
    texts = ["good", "bad", "Café 🎬", ""]
    values = rows(4)
    store.put_many("proba", KEY, texts, values)
    for reader in (store, ResultsStore(tmp_path)):  # a fresh object reads the file, as after a restart
        found = reader.get_many("proba", KEY, ["bad", "unknown", "good", "bad"])
        assert sorted(found) == [0, 2, 3]
        assert np.array_equal(found[0], values[1]) and np.array_equal(found[3], values[1]) and np.array_equal(found[2], values[0])
        assert found[0].dtype == np.float32
    assert store.count("proba", KEY, [*texts, "good", "other"]) == 4
    assert store.path == tmp_path / FILENAME and store.notice is None


def test_keys_kinds_and_pairs_never_meet(tmp_path):
    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, ["a", ("a", "b")], rows(2))
    store.put_many("embedding", KEY, ["a"], rows(1, width=8))
    assert store.get_many("proba", "b" * 64, ["a"]) == {}  # another checkpoint
    assert set(store.get_many("embedding", KEY, ["a", ("a", "b")])) == {0}  # another kind: its own rows and width
    single, pair = store.get_many("proba", KEY, ["a", ("a", "b")]).values()
    assert not np.array_equal(single, pair)
    assert store.get_many("proba", KEY, [("b", "a"), "a\nb", ("a", "b ")]) == {}  # a pair is not its texts joined or swapped
    # the hash is explain.cache's, so the two stores name a text the same way
    conn = sqlite3.connect(store.path)
    assert {r[0] for r in conn.execute("SELECT text_hash FROM results WHERE kind='proba'")} == {text_hash("a"), text_hash(("a", "b"))}
    conn.close()
    stats = store.stats()
    assert stats.rows == 3 and stats.by_kind == {"proba": 2, "embedding": 1} and stats.keys == 2 and stats.bytes > 0


def test_a_width_mismatch_is_refused_and_nothing_is_mixed(tmp_path):
    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, ["a"], rows(1, width=2))
    with pytest.raises(StoreError, match="width 2.*refusing rows of width 3"):
        store.put_many("proba", KEY, ["b"], rows(1, width=3))
    with pytest.raises(StoreError, match="width 2 .*produces 3"):
        store.get_many("proba", KEY, ["a"], width=3)
    assert store.count("proba", KEY, ["b"]) == 0
    with pytest.raises(StoreError, match="one row per input"):
        store.put_many("proba", KEY, ["a", "b"], rows(1))
    with pytest.raises(StoreError, match="holds proba, embedding"):
        store.get_many("logits", KEY, ["a"])


def test_rows_of_another_format_are_misses_and_get_replaced(tmp_path):
    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, ["a"], rows(1))
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE results SET format = ?", (FORMAT - 1,))
    conn.commit()
    conn.close()
    assert store.get_many("proba", KEY, ["a"]) == {}
    fresh = rows(1, seed=5)
    store.put_many("proba", KEY, ["a"], fresh)
    assert np.array_equal(store.get_many("proba", KEY, ["a"])[0], fresh[0]) and store.stats().rows == 1


def test_many_rows_come_back_through_chunked_lookups(tmp_path):
    store = ResultsStore(tmp_path)
    texts = [f"text {i}" for i in range(5000)]
    values = rows(5000, width=3)
    store.put_many("proba", KEY, texts, values)
    found = store.get_many("proba", KEY, texts[::-1])
    assert len(found) == 5000 and all(np.array_equal(found[4999 - i], values[i]) for i in range(0, 5000, 97))


def test_a_damaged_file_is_moved_aside_with_a_notice(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"this is not sqlite at all" * 100)
    store = ResultsStore(tmp_path)
    kept = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not sqlite")
    assert "results store" in store.notice and "damaged or not an SQLite database" in store.notice and kept[0].name in store.notice
    store.put_many("proba", KEY, ["a"], rows(1))
    assert store.count("proba", KEY, ["a"]) == 1


def test_an_older_schema_is_moved_aside_never_mixed(tmp_path):
    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, ["a"], rows(1))
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 98,))
    conn.commit()
    conn.close()
    again = ResultsStore(tmp_path)
    assert f"store schema {SCHEMA_VERSION + 98}, this version reads {SCHEMA_VERSION}" in again.notice
    assert again.count("proba", KEY, ["a"]) == 0
    assert [p for p in tmp_path.iterdir() if f".v{SCHEMA_VERSION + 98}-" in p.name]


def test_two_writers_at_once_lose_nothing(tmp_path):
    """Two objects (as two sessions or a CLI and the app) write interleaved batches from two threads."""
    stores = [ResultsStore(tmp_path), ResultsStore(tmp_path)]
    errors = []

    def write(w):
        try:
            for b in range(20):
                texts = [f"w{w} b{b} t{t}" for t in range(50)]
                stores[w].put_many("proba", KEY, texts, np.full((50, 2), w + b, dtype=np.float32))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everything = [f"w{w} b{b} t{t}" for w in (0, 1) for b in range(20) for t in range(50)]
    found = stores[0].get_many("proba", KEY, everything)
    assert len(found) == 2000 and found[1999][0] == 1 + 19


def _read_only(path):
    path.chmod(0o500)
    probe = path / "probe"
    try:
        probe.write_text("x")
    except OSError:
        return True
    probe.unlink()
    return False  # root: chmod does not stop writes


def test_a_read_only_folder_is_a_clear_error_saying_what_to_do(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    try:
        if not _read_only(folder):
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(StoreUnavailable, match=r"(?s)results store.*in memory only.*VEREDICTO_CACHE_DIR"):
            ResultsStore(folder)
        with pytest.raises(StoreUnavailable, match="Cannot create"):
            ResultsStore(folder / "below")
        assert list(folder.iterdir()) == []  # nothing moved, nothing created
    finally:
        folder.chmod(0o700)


def test_a_store_that_turns_read_only_refuses_writes_clearly_and_keeps_its_rows(tmp_path):
    folder = tmp_path / "store"
    store = ResultsStore(folder)
    store.put_many("proba", KEY, ["a"], rows(1))
    (folder / FILENAME).chmod(0o400)
    for side in folder.glob(FILENAME + "-*"):
        side.chmod(0o400)
    try:
        if os.access(folder / FILENAME, os.W_OK):
            pytest.skip("running as root: a read-only file is still writable")
        with pytest.raises(StoreUnavailable, match="Cannot (write to|read) the results store"):
            store.put_many("proba", KEY, ["b"], rows(1))
    finally:
        for p in folder.iterdir():
            p.chmod(0o600)
    assert ResultsStore(folder).count("proba", KEY, ["a", "b"]) == 1


def test_a_database_refusing_writes_is_store_unavailable_not_a_crash(tmp_path, monkeypatch):
    """What a full disk or a read-only mount looks like to SQLite (works as root too): a clear StoreUnavailable, rows kept."""
    from runtime import sqlite_files

    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, ["a"], rows(1))
    real = sqlite_files.connect

    def query_only(path, timeout=30.0):
        conn = real(path, timeout)
        conn.execute("PRAGMA query_only = 1")  # SQLite answers writes with "attempt to write a readonly database"
        return conn

    monkeypatch.setattr(sqlite_files, "connect", query_only)
    with pytest.raises(StoreUnavailable, match=r"(?s)Cannot write to the results store.*readonly.*in memory only.*VEREDICTO_CACHE_DIR"):
        store.put_many("proba", KEY, ["b"], rows(1))
    assert store.count("proba", KEY, ["a", "b"]) == 1


def test_a_file_where_the_folder_should_be_is_a_clear_error(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(StoreUnavailable, match="not a directory"):
        ResultsStore(tmp_path / "taken")


def test_a_payload_comes_back_equal_under_its_params_in_any_order_and_other_params_or_formats_miss(tmp_path):
    store = ResultsStore(tmp_path)
    payload = {"results": [{"rate": 0.25, "rows": [1, 2]}], "nan": float("nan"), "text": "Café 🎬"}
    store.put_payload("probes", KEY, {"seed": 0, "tests": ["names", "typos"]}, 1, payload)
    back = ResultsStore(tmp_path).get_payload("probes", KEY, {"tests": ["names", "typos"], "seed": 0}, 1)  # a restart; keys in another order
    assert back["results"] == payload["results"] and back["text"] == payload["text"] and back["nan"] != back["nan"]
    assert store.get_payload("probes", KEY, {"seed": 1, "tests": ["names", "typos"]}, 1) is None  # other params
    assert store.get_payload("probes", "b" * 64, {"seed": 0, "tests": ["names", "typos"]}, 1) is None  # another checkpoint
    assert store.get_payload("gates", KEY, {"seed": 0, "tests": ["names", "typos"]}, 1) is None  # another kind
    assert store.get_payload("probes", KEY, {"seed": 0, "tests": ["names", "typos"]}, 2) is None  # a newer reader: a miss
    store.put_payload("probes", KEY, {"seed": 0, "tests": ["names", "typos"]}, 2, {"v": 2})  # ...recomputed and replaced
    assert store.get_payload("probes", KEY, {"seed": 0, "tests": ["names", "typos"]}, 1) is None
    assert store.get_payload("probes", KEY, {"seed": 0, "tests": ["names", "typos"]}, 2) == {"v": 2}
    with pytest.raises(StoreError, match="Unknown payload kind 'proba'"):
        store.put_payload("proba", KEY, {}, 1, {})


def test_a_schema_1_file_from_before_payloads_gains_the_table_and_keeps_its_rows(tmp_path):
    path = tmp_path / FILENAME
    conn = sqlite3.connect(path)  # what a results store written before the payloads table holds
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE results (kind TEXT NOT NULL, key TEXT NOT NULL, text_hash TEXT NOT NULL, format INTEGER NOT NULL, width INTEGER NOT NULL,"
        " value BLOB NOT NULL, created REAL NOT NULL, PRIMARY KEY (kind, key, text_hash));"
    )
    conn.execute("INSERT INTO results VALUES ('proba', ?, ?, ?, 2, ?, 0)", (KEY, text_hash("a"), FORMAT, rows(1)[0].tobytes()))
    conn.commit()
    conn.close()
    assert SCHEMA_VERSION == 1
    store = ResultsStore(tmp_path)
    assert store.notice is None and set(store.get_many("proba", KEY, ["a"])) == {0}  # not moved aside: nothing it holds changed meaning
    store.put_payload("gates", KEY, {}, 1, {"ok": True})
    assert store.get_payload("gates", KEY, {}, 1) == {"ok": True}


def test_damage_inside_a_file_is_found_in_the_background_when_the_file_changed_and_moved_aside_at_the_next_open(tmp_path):
    """`PRAGMA quick_check` reads the whole file (seconds at 100k rows after a reboot): it runs in a thread of its own, and
    only when the file changed since it last passed, so no page waits for it. Damage written behind SQLite's back is found
    and said, the file moved aside at the next open; an unchanged file is not read again (the one case that skips it, a
    rewrite that keeps size, time and inode, is forged here on purpose)."""
    from runtime.sqlite_files import wait_for_checks

    store = ResultsStore(tmp_path)
    store.put_many("proba", KEY, [f"text {i} " * 20 for i in range(3000)], rows(3000))
    wait_for_checks()
    del store
    ResultsStore(tmp_path)  # checked (the file changed since), and its stamp kept
    wait_for_checks()
    path = tmp_path / FILENAME
    assert (tmp_path / (FILENAME + ".checked")).is_file()
    page = 4096
    size, before = path.stat().st_size, path.stat()
    assert size > 40 * page

    with open(path, "r+b") as f:  # the last pages hold rows, far from the schema on page 1
        f.seek(size - 3 * page)
        f.write(b"\xff" * (2 * page))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, time and inode: taken as unchanged
    unchecked = ResultsStore(tmp_path)
    wait_for_checks()
    assert unchecked.notice is None and not list(tmp_path.glob("*.corrupt-*")) and not (tmp_path / (FILENAME + ".damaged")).exists()

    os.utime(path)  # the file changed since it passed: checked again, in the background
    checking = ResultsStore(tmp_path)
    wait_for_checks()
    assert "is damaged" in checking.notice and "moves it aside" in checking.notice and not list(tmp_path.glob("*.corrupt-*"))
    moved = ResultsStore(tmp_path)  # the next open moves it aside and starts a fresh store
    kept = list(tmp_path.glob(FILENAME + ".corrupt-*"))
    assert len(kept) == 1 and "damaged" in moved.notice and kept[0].name in moved.notice
    assert not (tmp_path / (FILENAME + ".damaged")).exists()
    assert moved.count("proba", KEY, ["text 0 " * 20]) == 0  # a fresh store, nothing mixed in
