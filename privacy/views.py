"""The Data page's personal-data section as plain frozen data (the page lays it out; no Streamlit here).

section = pii_section(evalset, redact=redacting())
st.markdown(section.message); st.plotly_chart(pii_counts_figure(section.scan)); st.dataframe(section.counts); st.dataframe(section.examples)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from privacy.pii import EXAMPLES_PER_KIND, KIND_NAMES, PiiScan, scan_evalset
from runtime.escaping import md


@dataclass(frozen=True, eq=False)
class PiiSection:
    message: str  # Markdown, values escaped
    counts: pd.DataFrame  # one row per column scanned: rows with PII, then a count per kind
    examples: pd.DataFrame  # column, row, kind, example (the value in context; masked when redacting)
    scan: PiiScan
    redacted: bool


def pii_section(data, *, redact: bool, examples: int = EXAMPLES_PER_KIND) -> PiiSection:
    """Counts per column and kind and a few examples of each; with `redact` the examples show `<KIND>` in place of the value.
    `data`: an `EvalSet` to scan, or a `PiiScan` already made (a file scanned in chunks: `privacy.pii.scan_chunks`)."""
    scan = data if isinstance(data, PiiScan) else scan_evalset(data, examples=examples)
    rows = [
        {
            "column": e.column,
            "row": e.row + 1,  # 1-based data row, as in the data warnings
            "kind": KIND_NAMES[e.kind],
            "example": e.masked if redact else f"{e.before}[{e.value}]{e.after}",
        }
        for column in scan.columns
        for e in column.examples
    ]
    message = md(scan.describe())
    if scan.rows_with_pii:
        message += (
            " Turn on **Redact personal data** in the sidebar to mask it on every page, use `veredicto report --redact` for the report, "
            "and set `max_pii_rate` in the policy to gate on it (`veredicto scan-pii --data FILE` in CI)."
        )
    return PiiSection(message, scan.counts_frame(), pd.DataFrame(rows, columns=["column", "row", "kind", "example"]), scan, redact)
