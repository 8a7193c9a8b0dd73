"""``lumenize-trio``'s argument parsing and subcommand dispatch."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lumenize-trio`` with *argv* (``sys.argv[1:]`` by default); return the exit status.

    ``serve`` runs until SIGINT or SIGTERM, then stops cleanly (0). Usage errors exit with 2
    (argparse's convention), with a message on stderr.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    # Only "serve" exists so far; "demo" and "bench" will be dispatched here too.
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
