"""Personal data in evaluation and training texts: find it, count it, mask it for display.

- `privacy.pii`: the scanner (`find_pii`, `scan_texts`, `scan_evalset`): emails, phone numbers (`phonenumbers`),
  IBANs, card numbers and national IDs that pass their checksums (`python-stdnum`), IP addresses, URLs and person
  names from the probes' name lists; a frozen `PiiScan` with per-column, per-kind counts and a few examples.
- `privacy.redact`: typed placeholders (`<EMAIL>`, `<PHONE>`, ...) in place of what the scanner found, memoised per
  text, with counts per kind; `redact_frame` for the text columns of a table.
- `privacy.views.pii_section` (the Data page's view model: counts, examples, message) and
  `privacy.figures.pii_counts_figure` (a pure Plotly figure of the counts).

Redaction is display-only: models always score the original text. A bottom layer: imports `runtime`, `evaldata`,
`models.errors` and the name lists of `probes.perturb` (plain text, no model); never Streamlit.
"""
