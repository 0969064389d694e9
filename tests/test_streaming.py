"""Files read in chunks: at most `chunk_rows` rows at a time, the same columns and values as the whole-file reader, and
bad input mid-file named by its line or rows."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from privacy_support import planted_frame

from cli.common import chunk_progress
from cli.main import main
from evaldata.loading import load_eval_data
from evaldata.streaming import stream_eval_data
from models.errors import DataError
from privacy.pii import scan_chunks, scan_evalset


def _write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=7)  # row groups unlike the chunks: batches still never exceed them
    return path


def _mixed(n: int = 100) -> pd.DataFrame:
    """The planted personal data repeated to `n` rows, a numeric column (never scanned) and a 'note' that is empty at first."""
    frame = planted_frame()
    frame = pd.concat([frame] * (n // len(frame) + 1), ignore_index=True).head(n)
    frame["stars"] = range(n)
    frame["note"] = [None] * (n // 2) + [f"call bob at +44 20 7946 0958 ({i})" for i in range(n - n // 2)]  # strings only in later chunks
    return frame


class Recorder:
    """Passes chunks through, remembering how many rows each held: what the scanner was ever given at once."""

    def __init__(self, chunks):
        self.chunks, self.sizes = chunks, []

    def __iter__(self):
        for chunk in self.chunks:
            self.sizes.append(len(chunk.frame))
            yield chunk


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_chunked_pii_scan_holds_at_most_k_rows_and_equals_the_whole_file_scan(tmp_path, suffix):
    path = _write(_mixed(100), tmp_path / f"data{suffix}")
    recorder = Recorder(stream_eval_data(path, label_col="", chunk_rows=9))
    streamed = scan_chunks(recorder, name=path.name)
    assert max(recorder.sizes) <= 9 and sum(recorder.sizes) == 100 and len(recorder.sizes) >= 12
    whole = scan_evalset(load_eval_data(path, label_col=""))
    assert streamed == whole  # every count, rate, column (in order) and example (row numbers across chunks) alike
    columns = [c.column for c in whole.columns]
    assert "note" in columns and whole.rows_with_pii > 0
    assert ("stars" in columns) == (suffix == ".csv")  # a CSV cell is a string; JSON and Parquet numbers are not scanned


def test_chunks_carry_the_whole_file_columns_and_values(tmp_path):
    path = _write(_mixed(30), tmp_path / "data.csv")
    whole = load_eval_data(path, label_col="").frame
    chunks = list(stream_eval_data(path, label_col="", chunk_rows=4))
    assert [c.start for c in chunks] == list(range(0, 30, 4))
    pd.testing.assert_frame_equal(pd.concat([c.frame for c in chunks], ignore_index=True), whole)
    assert chunks[-1].done == 1.0


def test_a_line_that_is_not_utf8_mid_file_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    lines = [b"text,label"] + [f"fine text {i},pos".encode() for i in range(50)]
    lines[37] = "caf\u00e9 latin-1,neg".encode("latin-1")
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=r"byte 0xe9 on line 38 .*Re-save the file as UTF-8"):
        list(stream_eval_data(path, chunk_rows=5))


def test_a_column_missing_from_later_rows_names_the_rows_and_what_to_do(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": f"t{i}", "label": "p"} for i in range(10)] + [{"body": f"b{i}", "label": "p"} for i in range(4)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"no column 'text' in rows 11–14.*same keys on every line"):
        list(stream_eval_data(path, chunk_rows=5))


def test_a_blank_label_mid_file_names_its_row(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{'' if i == 12 else 'p'}\n" for i in range(20)))
    with pytest.raises(DataError, match=r"rows 13\)"):
        list(stream_eval_data(path, chunk_rows=5))


def test_empty_files_say_so(tmp_path):
    (tmp_path / "e.csv").write_text("")
    (tmp_path / "h.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="is empty"):
        list(stream_eval_data(tmp_path / "e.csv"))
    with pytest.raises(DataError, match="no rows"):
        list(stream_eval_data(tmp_path / "h.csv"))


def test_the_progress_bar_shows_rows_rate_and_an_eta(tmp_path):
    path = _write(_mixed(60), tmp_path / "data.parquet")
    out = io.StringIO()
    rows = sum(len(c.frame) for c in chunk_progress(stream_eval_data(path, label_col="", chunk_rows=10), "Scanning", file=out, disable=False))
    shown = out.getvalue()
    assert rows == 60 and "60/60" in shown and "rows/s" in shown and "<00:00" in shown  # rows done of the total, rate, time left


def test_scan_pii_reads_in_chunks_and_reports_the_same_counts(tmp_path, capsys):
    path = _write(_mixed(100), tmp_path / "data.csv")
    assert main(["scan-pii", "--data", str(path), "--chunk-rows", "7", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    whole = scan_evalset(load_eval_data(path, label_col=""))
    assert result["rows"] == 100 and result["rows_with_pii"] == whole.rows_with_pii and result["totals"] == dict(whole.totals)
    assert main(["scan-pii", "--data", str(path), "--chunk-rows", "0"]) == 2
    assert "at least one row" in capsys.readouterr().err
