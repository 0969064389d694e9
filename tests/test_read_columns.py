"""The sidebar's column names come from a CSV/TSV's header alone (a 100k-row file is not parsed twice on first open), and
are the names `read_file` gives, with its checks of the whole file (UTF-8, empty)."""

from __future__ import annotations

import pandas as pd
import pytest

from evaldata.loading import read_columns, read_file
from models.errors import DataError


@pytest.mark.parametrize(
    "name, raw",
    [
        ("a.csv", b'text,label,"odd, name",7\nhi,pos,x,1\n'),
        ("bom.csv", "\ufefftext,label\nhi,pos\n".encode()),
        ("t.tsv", b"text\tlabel\tn\nhi\tpos\t3\n"),
        ("ü.csv", "tëxt,label\nhi,pos\n".encode()),
    ],
)
def test_header_names_are_read_files_names(tmp_path, name, raw):
    path = tmp_path / name
    path.write_bytes(raw)
    assert read_columns(path) == list(read_file(path)[0].columns)


def test_other_formats_are_read_whole_and_bad_files_get_read_files_messages(tmp_path):
    parquet = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a"], "label": ["b"], "3": [1]}).to_parquet(parquet)
    assert read_columns(parquet) == ["text", "label", "3"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\nhi,pos\n" * 50_000 + b"caf\xe9,pos\n")  # far past the header: still refused, as read_file refuses it
    with pytest.raises(DataError, match="is not UTF-8: byte 0xe9 on line 100001"):
        read_columns(bad)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        read_columns(empty)
