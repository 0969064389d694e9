"""`veredicto audit verify|head|list`: check the sign-off chain, print an anchor to keep elsewhere, and read the records."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="Verify or list the tamper-evident sign-off records.")
    commands = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    store_help = "SQLAlchemy URL, SQLite file or directory (default: $VEREDICTO_STORE_URL, else store/veredicto.db in the Veredicto home: $VEREDICTO_HOME, the checkout's .veredicto, or ~/.veredicto)."

    verify = commands.add_parser("verify", help="Check every record's hash and the chain; exit 1 and name the first bad record if it is broken.")
    verify.add_argument("--store", default=None, help=store_help)
    verify.add_argument(
        "--expect",
        default=None,
        metavar="SEQ:HASH",
        help="An anchor printed earlier by `veredicto audit head` (SEQ:HASH or SEQ:HASH:HMAC): the record at SEQ must still have that hash, so a rewritten history is caught; later sign-offs are fine.",
    )
    verify.add_argument(
        "--expect-head", default=None, help="Deprecated: the head hash itself, which stops matching at the next sign-off; use --expect SEQ:HASH."
    )
    verify.set_defaults(func=run_verify)

    head = commands.add_parser("head", help="Verify the chain and print its head as SEQ:HASH, an anchor to keep outside the database.")
    head.add_argument("--store", default=None, help=store_help)
    head.add_argument("--sign", action="store_true", help="Append an HMAC-SHA256 under $VEREDICTO_AUDIT_KEY (kept outside the database): SEQ:HASH:HMAC.")
    head.set_defaults(func=run_head)

    listing = commands.add_parser("list", help="List sign-offs, newest first, with whether the checkpoint still holds the signed weights.")
    listing.add_argument("--store", default=None, help=store_help)
    listing.add_argument("--checkpoint", default=None, help="Only records of this checkpoint directory (by path and by its current weights).")
    listing.add_argument("--limit", type=int, default=50, help="Most records to show (default 50; 0 = all).")
    listing.add_argument("--json", action="store_true", help="Print the full records as JSON lines.")
    listing.set_defaults(func=run_list)

    hashing = commands.add_parser(
        "hash-password",
        help="Print a salted PBKDF2-SHA256 hash (the iteration count logins expect) of a reviewer password for [veredicto.reviewers] in Streamlit secrets; plain-text passwords there are refused at login.",
    )
    hashing.add_argument("--name", default=None, help="Reviewer name, to print a ready-to-paste secrets line.")
    hashing.set_defaults(func=run_hash_password)


def run_verify(args) -> int:
    from store.audit import open_store

    store = open_store(args.store)
    if args.expect_head:
        print(
            "--expect-head is deprecated: it compares with the current head, so it fails after any later sign-off. "
            "Use `veredicto audit head` to print SEQ:HASH and `--expect SEQ:HASH` to check it.",
            file=sys.stderr,
        )
    result = store.verify(expected_head=args.expect_head, expect=args.expect)
    print(f"Store: {store.display_url} (schema v{store.schema_version()})")
    if result.ok:
        print(
            f"OK: {result.records} record(s); every hash and link checks out"
            + (f"; record #{args.expect.split(':')[0]} matches the anchor." if args.expect else ".")
        )
        print(f"Head: {result.head_seq}:{result.head_hash}")
        print("Keep this SEQ:HASH somewhere else (a ticket, a release note) and pass it to --expect later to detect a rewritten history.")
        return 0
    print(f"BROKEN: first bad record #{result.first_bad}: {result.problem}")
    print("Do not trust sign-offs from that record on; restore the store from a backup and investigate who had write access.", file=sys.stderr)
    return 1


def run_head(args) -> int:
    from store.audit import open_store

    print(open_store(args.store).anchor(sign=args.sign))
    return 0


def run_list(args) -> int:
    from pathlib import Path

    from store.audit import current_fingerprint, freshness, open_store

    store = open_store(args.store)
    fingerprint = path = None
    if args.checkpoint:
        path = str(Path(args.checkpoint).expanduser().resolve())
        fingerprint = current_fingerprint(path)
        if fingerprint is None:
            fingerprint = "-"  # gone: show the records for the path only
    records = store.records(checkpoint_fingerprint=fingerprint, checkpoint_path=path, limit=args.limit or None, newest_first=True)
    if args.json:
        for record in records:
            print(json.dumps(record.to_dict(), ensure_ascii=False))
        return 0
    if not records:
        print(f"No sign-offs in {store.display_url}" + (f" for {args.checkpoint}." if args.checkpoint else "."))
        return 0
    now: dict[str, str | None] = {}
    headers = ("#", "UTC time", "Reviewer", "Decision", "Checkpoint", "Task", "Weights now", "Gates", "Comment")
    rows = []
    for r in records:
        if r.checkpoint_path not in now:
            now[r.checkpoint_path] = current_fingerprint(r.checkpoint_path) if r.checkpoint_path else None
        state = freshness(r, now[r.checkpoint_path])
        label = {"current": "same", "stale": "CHANGED (stale)", "missing": "missing"}[state]
        comment = " ".join(r.comment.split())
        rows.append(
            (
                str(r.seq),
                r.created_at[:19].replace("T", " "),
                r.reviewer,
                r.decision_label,
                f"{r.checkpoint_name} {r.checkpoint_fingerprint[:12]}",
                r.task_text,
                label,
                f"{r.gates_passed}/{r.gates_total} pass",
                comment[:60] + ("…" if len(comment) > 60 else ""),
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(fmt(headers))
    print(fmt(["-" * w for w in widths]))
    for row in rows:
        print(fmt(row))
    stale = sum(1 for row in rows if row[6].startswith("CHANGED"))
    if stale:
        print(f"\n{stale} record(s) are stale: the checkpoint files changed after the sign-off, so those decisions do not apply to the weights there now.")
    return 0


def run_hash_password(args) -> int:
    import getpass

    from models.errors import VeredictoError
    from store.identity import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise VeredictoError("The two passwords differ; nothing was printed.")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise VeredictoError("Empty password; nothing was printed.")
    hashed = hash_password(password)
    if args.name:
        print("[veredicto.reviewers]")
        print(f"{json.dumps(args.name)} = {json.dumps(hashed)}")
    else:
        print(hashed)
    return 0
