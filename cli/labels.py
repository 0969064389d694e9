"""`veredicto labels export|list`: the reviewers' decisions on gold labels ("right" / "wrong -> X"), from the audit store."""

from __future__ import annotations

import sys
from pathlib import Path

from cli.gate import add_data_arguments, load_labelled

NONE_FOUND = (
    "No decision was recorded on this data (fingerprint {fingerprint}). Decisions name the data by its exact bytes, its text and "
    "label columns and the label mapping: give the same file, columns and --label-map as in the app."
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("labels", help="Export or list the reviewers' decisions on gold labels (recorded on the Data page).")
    commands = parser.add_subparsers(dest="labels_command", required=True, metavar="ACTION")
    store_help = "SQLAlchemy URL, SQLite file or directory (default: $VEREDICTO_STORE_URL, else store/veredicto.db in the Veredicto home)."

    export = commands.add_parser(
        "export", help="Write the decisions on one evaluation file as CSV (spreadsheet-safe): the latest per row, or every one with --history."
    )
    add_data_arguments(export, scoring=False)
    export.add_argument("--store", default=None, help=store_help)
    export.add_argument("--out", type=Path, default=None, help="CSV file to write (default: standard output).")
    export.add_argument("--history", action="store_true", help="Every decision, newest first, not only the one that counts per row.")
    export.add_argument(
        "--redact",
        action="store_true",
        help="Mask personal data in the texts and notes with typed placeholders (<EMAIL>, <NAME>, …), as the app's switch does.",
    )
    export.set_defaults(func=run_export)

    listing = commands.add_parser("list", help="List decisions, newest first: on one evaluation file with --data, else every one in the store.")
    add_data_arguments(listing, required=False, scoring=False)
    listing.add_argument("--store", default=None, help=store_help)
    listing.add_argument("--redact", action="store_true", help="Mask personal data in the notes with typed placeholders.")
    listing.set_defaults(func=run_list)


def _on_file(args):
    """The file's data fingerprint (as prediction tables compute it), its texts, and every decision on it, oldest first."""
    from evaldata.loading import data_fingerprint
    from store.audit import open_store
    from store.labels import decisions_of

    evalset, mapping = load_labelled(args)
    fingerprint = data_fingerprint(evalset, mapping)
    return fingerprint, evalset.texts, decisions_of(open_store(args.store), fingerprint)


def run_export(args) -> int:
    from runtime.escaping import csv_bytes
    from store.labels import decisions_frame, latest_decisions

    fingerprint, texts, decisions = _on_file(args)
    if not decisions:
        print(NONE_FOUND.format(fingerprint=fingerprint[:12]), file=sys.stderr)
    if not args.history:
        decisions = list(latest_decisions(decisions, fingerprint, texts).values())
    frame = decisions_frame(decisions, texts, redact=args.redact)
    if args.out is None:
        sys.stdout.write(csv_bytes(frame, bom=False).decode("utf-8"))
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(csv_bytes(frame))
    where = f" to {args.out}" if args.out else ""
    print(f"Wrote {len(frame)} decision(s){where} for data {fingerprint[:12]}.", file=sys.stderr)
    return 0


def run_list(args) -> int:
    from store.audit import open_store
    from store.labels import decisions_of

    if args.data is not None:
        fingerprint, _, decisions = _on_file(args)
        where = f" on {Path(args.data).name}"
    else:
        fingerprint, decisions = "", decisions_of(open_store(args.store))
        where = ""
    if not decisions:
        print(f"No label decisions{where}." + (" " + NONE_FOUND.format(fingerprint=fingerprint[:12]) if args.data is not None else ""))
        return 0
    if args.redact:
        from privacy.redact import redact
    for d in sorted(decisions, key=lambda d: d.id, reverse=True):
        note = " ".join((redact(d.note).text if args.redact else d.note).split())
        print(
            f"#{d.id}  {d.created_at[:19].replace('T', ' ')}  {d.data_name} {d.data_fingerprint[:12]}  row {d.row}  "
            f"gold {d.gold}: {d.described}  by {d.reviewer} ({d.identity})" + (f"  note: {note[:60]}{'…' if len(note) > 60 else ''}" if note else "")
        )
    return 0
