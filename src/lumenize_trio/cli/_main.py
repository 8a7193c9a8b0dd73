"""``lumenize-trio``'s argument parsing and subcommand dispatch."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ._demo import NAMES, run_demo
from ._serve import FactoryError, load_factory, parse_bind, run_server

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_BIND = "127.0.0.1:8787"
DEFAULT_DATA_DIR = "./.lumenize"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lumenize-trio", description="A structured-concurrency actor runtime for Trio."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a mesh's actors over HTTP",
        description=(
            "Open a mesh with SQLite storage under --data-dir and serve it over HTTP until "
            "SIGINT or SIGTERM. TARGET is 'module:factory'; factory(data_dir) returns the "
            "bindings ({'COUNTER': Counter}), or (bindings, create_app options), or (bindings, "
            "create_app options, open_mesh options)."
        ),
    )
    serve.add_argument(
        "target", metavar="TARGET", help="module:factory, importable from the current directory"
    )
    serve.add_argument("--bind", default=DEFAULT_BIND, metavar="HOST:PORT", help=f"default {DEFAULT_BIND}")
    serve.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the actors' SQLite files (default {DEFAULT_DATA_DIR})",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="default info"
    )
    demo = commands.add_parser(
        "demo",
        help="run the chat-room demo",
        description=(
            "Serve a chat-room actor over RPC (SQLite under --data-dir, or a temporary folder), "
            "connect RPC clients that join, post and receive server-pushed messages, print the "
            "transcript and a few figures, and exit."
        ),
    )
    demo.add_argument("--data-dir", default=None, metavar="DIR", help="default: a temporary folder")
    demo.add_argument("--clients", type=int, default=3, metavar="N", help="RPC clients, 1 to 8 (default 3)")
    demo.add_argument("--messages", type=int, default=3, metavar="N", help="messages each posts (default 3)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lumenize-trio`` with *argv* (``sys.argv[1:]`` by default); return the exit status.

    ``serve`` runs until SIGINT or SIGTERM, then stops cleanly (0). Usage errors exit with 2
    (argparse's convention), with a message on stderr.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if not 1 <= args.clients <= len(NAMES) or not 1 <= args.messages <= 1000:
            parser.error(f"--clients must be 1 to {len(NAMES)} and --messages 1 to 1000")
        data_dir = None if args.data_dir is None else Path(args.data_dir)
        trio.run(
            partial(run_demo, data_dir=data_dir, clients=args.clients, messages=args.messages, out=sys.stdout)
        )
        return 0
    try:
        host, port = parse_bind(args.bind)
        data_dir = Path(args.data_dir)
        spec = load_factory(args.target, data_dir)
    except FactoryError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run = partial(run_server, spec, host=host, port=port, data_dir=data_dir, out=sys.stdout)
    trio.run(run)
    return 0
