"""The limits every operation chain is validated against before anything runs.

They bound the work a chain received from another actor or a remote client can ask for. The
figures are upstream Lumenize's defaults, so chains valid there are valid here.
"""

from __future__ import annotations

from typing import Final

from .. import clone

#: Most operations (``Get`` plus ``Apply``) one chain may hold. Checked for every chain, including
#: each chain nested in arguments.
MAX_CHAIN_LENGTH: Final = 50

#: Most arguments, positional plus keyword, one ``Apply`` may pass.
MAX_ARGUMENTS: Final = 100

#: Deepest nesting of arguments (each list, tuple or dict level counts one, each nested chain
#: counts NESTED_CHAIN_DEPTH). Not a knob: it never refuses what ``clone.dumps`` accepted, because
#: a nested chain costs the clone at least four levels (the marker, its chain tuple, the ``Apply``
#: and its argument tuple). Chains decoded from hand-written bytes can be deeper than that
#: (``clone.loads`` bounds CBOR levels, up to ~3x deeper): this limit refuses them with a clear
#: ``ChainError`` before anything runs, as it does chains built locally.
MAX_ARGUMENT_DEPTH: Final = clone.MAX_DEPTH
NESTED_CHAIN_DEPTH: Final = 4

#: Argument types that are never a marker or a builder and hold nothing: arguments made only of
#: these skip the marker scan (checked in C with ``frozenset.issuperset``).
SCALARS: Final = frozenset({str, int, float, bool, bytes, type(None)})
