"""Entry point of the `veredicto` command: bad input exits 2 with a one-paragraph message, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import cli
from models.errors import VeredictoError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veredicto", description="Evaluate, explain and sign off fine-tuned text classifiers.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(cli.__path__)):
        if module != "main":
            mod = importlib.import_module(f"cli.{module}")
            if hasattr(mod, "register"):
                mod.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VeredictoError as exc:
        print(f"veredicto {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"veredicto {args.command}: interrupted; work already saved is kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
