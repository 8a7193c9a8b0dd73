"""Structured clone throughput (encode + decode) next to raw cbor2 and pickle on the same data."""

from __future__ import annotations

import pickle
from typing import Any

import cbor2

from lumenize_trio import clone

from ._harness import Result, rate


def plain_rows() -> Any:
    """(a) JSON-like data: 1,000 rows of a small record."""
    return [
        {
            "id": i,
            "name": f"user-{i}",
            "score": i * 1.5,
            "active": i % 2 == 0,
            "tags": ["a", "b"],
            "parent": None,
        }
        for i in range(1000)
    ]


def rpc_envelope() -> Any:
    """(b) A realistic RPC envelope: a call id, an operation chain and a call context."""
    return {
        "v": 1,
        "id": "01HZX3J6Q4W8N2",
        "ops": [["get", "room"], ["apply", ["post", {"text": "hello", "mentions": ["bob"]}, 3]]],
        "ctx": {
            "chain": [["LumenizeClient", "CLIENT", "alice.tab1"], ["LumenizeDO", "ROOM", "lobby"]],
            "state": {},
        },
    }


def shared_graph() -> Any:
    """(c) Aliases and cycles: 500 records, each in a list, an index and a group, each pointing at itself.

    (A ring of records would be more typical still, but raw cbor2 writes a shared value inline at
    its first use, so a ring nests as deep as it is long and cbor2 refuses it past 400 levels; this
    shape keeps the baseline able to run. See test_long_chains_and_rings_do_not_nest for rings.)
    """
    people: list[dict[str, Any]] = [{"id": i, "name": f"p{i}", "tags": ["x", "y"]} for i in range(500)]
    for person in people:
        person["self"] = person
    groups = [people[i : i + 10] for i in range(0, 500, 10)]
    return {"people": people, "index": {p["id"]: p for p in people}, "groups": groups}


def one_mib() -> Any:
    """(d) 1 MiB of bytes."""
    return bytes(range(256)) * 4096


def _case(name: str, value: Any, *, sharing: bool, target: str = "") -> Result:
    ours = rate(lambda: clone.loads(clone.dumps(value)))
    raw = rate(lambda: cbor2.loads(cbor2.dumps(value, value_sharing=sharing)))
    pick = rate(lambda: pickle.loads(pickle.dumps(value, protocol=5)))
    baseline = "cbor2 raw" + (" (value_sharing)" if sharing else "")
    return Result(name, "round trips/s", ours, {baseline: raw, "pickle": pick}, target)


def run() -> list[Result]:
    return [
        _case("clone: plain JSON-like (1,000 rows)", plain_rows(), sharing=False, target=">= 0.6x cbor2 raw"),
        _case("clone: RPC envelope", rpc_envelope(), sharing=False),
        _case("clone: aliases and cycles (500 shared records)", shared_graph(), sharing=True),
        _case("clone: 1 MiB of bytes", one_mib(), sharing=False),
    ]
