"""`veredicto demo`: build the bundled offline demo (idempotent)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="Build the offline demo checkpoints and data (does nothing if already built).")
    parser.add_argument(
        "--task", choices=["sentiment", "news"], default="sentiment", help="sentiment: Rotten Tomatoes fresh/rotten; news: BBC news, five topics."
    )
    parser.add_argument("--out", type=Path, default=None, help="Demo directory (default: .veredicto/demo, or $VEREDICTO_DEMO_DIR).")
    parser.add_argument("--force", action="store_true", help="Rebuild even if the demo is already built.")
    parser.set_defaults(func=run)


def run(args) -> int:
    from training.demo import build_demo, default_demo_dir

    out = args.out or default_demo_dir()
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.task == "news":
        from training.news_demo import build_news_demo

        build_news_demo(out, force=args.force, log=log)
    else:
        build_demo(out, force=args.force, log=log)
    return 0
