"""Output escaping every layer shares, so that nothing a user typed (or a checkpoint or data file carried) is read as code.

- `md(value)`: a value from data, a checkpoint or a person, made safe to interpolate into Markdown that Streamlit
  renders (`st.markdown`, captions, alerts, the view models' messages): every Markdown/HTML control character is
  backslash-escaped and line breaks become spaces, so a label `**x**`, a name `[click](http://evil)`, a text
  `![](http://tracker)` or `<script>` shows as the characters typed, never as formatting, a link, an image or markup.
- `csv_safe(frame)` / `csv_bytes(frame)`: the one way Veredicto writes a CSV a person will open in a spreadsheet.
  A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula (OWASP's
  "CSV injection"); it gets a leading `'` so the spreadsheet shows it as text. Numbers stay numbers (-0.5 is a
  number, not a formula).

Lives in `runtime` (the bottom of the import graph) because the view models in `store`, `probes` and `analysis`
build Markdown and CSV too, and they may not import `dashboard`.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import pandas as pd

# Characters that mean something anywhere in a line: emphasis, code, links and images, raw HTML and entities, GFM tables
# and strikethrough, Streamlit's directives (`:red[...]`, `:material/icon:`, emoji shortcodes) and KaTeX (`$`).
_MD_INLINE = re.compile(r"([\\`*_{}\[\]<>|~$:&])")
# Characters that only mean something where a block starts (heading, list, rule, setext underline, ordered list "1."):
# escaped when the value opens with them, so that a value placed after "- " or at the start of a line stays text.
_MD_BLOCK_START = re.compile(r"^(\s*)([#+\-=]|\d+[.)](?=\s|$))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def md(value: Any) -> str:
    """`value` as literal text inside Markdown: control characters backslash-escaped, line breaks turned into spaces.

    Plain sentences keep their full stops and hyphens ("No text to change." stays as it is)."""
    text = _MD_INLINE.sub(r"\\\1", _LINE_BREAKS.sub(" ", "" if value is None else str(value)))
    return _MD_BLOCK_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text)


def csv_cell(value: Any) -> Any:
    """One cell as a spreadsheet may safely read it: a text starting with a formula character gets a leading `'`.

    Numbers, and texts that are just a number ("-0.5", which a spreadsheet reads as that number, not a formula), stay."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) cannot start a formula; numeric columns are left as they are."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]) or isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object).map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def csv_bytes(frame: pd.DataFrame, *, bom: bool = True) -> bytes:
    """`frame` as UTF-8 CSV with formula cells neutralised and every text cell quoted (with a BOM by default, so spreadsheet programs read accents right)."""
    # Every text cell quoted: pandas leaves a cell holding a bare carriage return unquoted, which a reader takes for a new row.
    return csv_safe(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig" if bom else "utf-8")
