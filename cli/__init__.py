"""The `veredicto` command line. Each module here that defines `register(subparsers)` adds one subcommand.

May import every other Veredicto package; nothing imports `cli`.
"""
