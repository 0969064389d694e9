"""Review and sign-off: release policies, gate evaluation, the tamper-evident audit trail and the stakeholder report.

- `store.policy`: read and validate a policy file (YAML or TOML) into a frozen `Policy`.
- `store.gates`: evaluate every gate of a policy on prediction tables -> `GateReport`; `stored_evaluation` reads and
  writes it in the results store.
- `store.audit`: append-only, hash-chained sign-off records in any SQLAlchemy database
  (SQLite file by default, PostgreSQL for a team), `verify()`, staleness.
- `store.results`: the persistent results store of probabilities and embeddings (`results.sqlite` beside the attribution
  cache, in `runtime.settings.cache_dir()`), read first by every `Predictor` given it; whole results (probe runs, gate
  evaluations) as JSON payloads beside them.
- `store.codec`: result dataclasses with their frames and arrays to JSON and back (only listed types are rebuilt).
- `store.report`: one self-contained HTML report (Plotly JS inline, prints to PDF).

May import `models`, `evaldata`, `analysis`, `explain` (and, inside functions, `probes` and `quality` for their gates); never `pages`, `dashboard` or `cli`,
and never Streamlit. `store.audit` and `store.policy` import only the standard library,
SQLAlchemy and PyYAML at module level, so a CI job or an audit check starts fast.
"""
