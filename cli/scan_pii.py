"""`veredicto scan-pii`: personal data in a data file, counted per column and kind, for CI (exit 1 above a threshold)."""

from __future__ import annotations

import json
from pathlib import Path

from cli.common import add_chunk_argument, chunk_progress
from models.errors import VeredictoError

GATE = "max_pii_rate"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan-pii",
        help="Count personal data (emails, phones, IBANs, cards, national IDs, IPs, URLs, names) per column (exit 0 ok, 1 above the threshold, 2 bad input).",
        description="Scan the text column and every metadata column holding strings. Prints counts per column and kind, never the values. "
        f"Exit status: 0 when the share of rows with personal data is at most the threshold ({GATE} of --policy, or --max-rate) "
        "or no threshold is given, 1 above it, 2 bad input.",
    )
    parser.add_argument("--data", required=True, type=Path, help="Data file (CSV, TSV, JSONL or Parquet); labels are not needed.")
    parser.add_argument("--text-col", default=None, help="Text column (default: guessed from names like 'text').")
    parser.add_argument("--policy", type=Path, default=None, help=f"Policy file whose gates.{GATE} is the threshold (see policies/example.yaml).")
    parser.add_argument(
        "--max-rate", type=float, default=None, help=f"Highest acceptable share of rows with personal data (0..1); overrides the policy's {GATE}."
    )
    add_chunk_argument(parser, "the data file")
    parser.add_argument("--json", dest="json_out", action="store_true", help="Print the result as JSON instead of a table.")
    parser.set_defaults(func=run)


def threshold(args) -> float | None:
    if args.max_rate is not None:
        if not 0.0 <= args.max_rate <= 1.0:
            raise VeredictoError(f"--max-rate must be a share between 0 and 1 (got {args.max_rate}); e.g. 0.01 allows one row in a hundred.")
        return float(args.max_rate)
    if args.policy is None:
        return None
    from store.policy import load_policy

    policy = load_policy(args.policy)
    if GATE not in policy.gates:
        raise VeredictoError(f"{policy.source} sets no gates.{GATE}; add it (e.g. `{GATE}: 0.0`) or pass --max-rate.")
    return float(policy.gates[GATE])


def run(args) -> int:
    from evaldata.streaming import stream_eval_data
    from privacy.pii import KIND_NAMES, scan_chunks

    limit = threshold(args)  # cheapest check first
    chunks = stream_eval_data(args.data, text_col=args.text_col, label_col="", chunk_rows=args.chunk_rows)
    scan = scan_chunks(chunk_progress(chunks, f"Scanning {args.data.name}"), name=args.data.name, examples=0)
    passed = limit is None or scan.rate <= limit
    if args.json_out:
        print(
            json.dumps(
                {
                    "data": scan.name,
                    "rows": scan.rows,
                    "rows_with_pii": scan.rows_with_pii,
                    "rate": scan.rate,
                    "max_rate": limit,
                    "passed": passed,
                    "totals": dict(scan.totals),
                    "columns": {c.column: {"rows_with_pii": c.rows_with_pii, "counts": dict(c.counts)} for c in scan.columns},
                },
                indent=2,
            )
        )
    else:
        print(f"{scan.name}: {scan.describe()}")
        print(scan.counts_frame().to_string(index=False))
        print("Kinds: " + "; ".join(f"{k} = {v}" for k, v in KIND_NAMES.items()) + ".")
        if limit is not None:
            print(f"\n{GATE} {limit:g}: {'PASS' if passed else 'FAIL'} (measured {scan.rate:.4f}).")
    return 0 if passed else 1
