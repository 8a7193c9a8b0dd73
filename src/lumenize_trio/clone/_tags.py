"""CBOR tag numbers used by the structured clone (the wire contract; see docs/protocol.md#values).

IANA-registered tags are used wherever one carries the value without loss. Values with no such tag
use a private block, ``0x4C4D5400`` ("LMT\\0") and up, which is not IANA-registered; peers in other
languages implement them from the table in ``docs/protocol.md``.
"""

from __future__ import annotations

# IANA-registered tags (RFC 8949, RFC 8943, and the registry's first-come-first-served entries).
DATETIME_STRING = 0  # aware datetime: RFC 3339 text with its UTC offset
EPOCH_DATETIME = 1  # accepted on decode (as an aware UTC datetime), never emitted
POSITIVE_BIGNUM = 2  # emitted and decoded by cbor2 for ints beyond 64 bits
NEGATIVE_BIGNUM = 3
DECIMAL_FRACTION = 4  # finite Decimal: [exponent, mantissa]
SHAREABLE = 28  # value sharing: refused on decode (this format shares through GRAPH/REF instead)
SHARED_REF = 29
RATIONAL = 30  # Fraction: [numerator, denominator]
URI = 32  # httpx.URL
REGEX = 35  # accepted on decode (pattern without flags), never emitted: it cannot carry flags
UUID = 37
SET = 258  # set (frozenset has its own tag so the type survives)
WTF8_STRING = 273  # str holding lone surrogates: the string encoded with UTF-8 "surrogatepass"
DAYS_SINCE_EPOCH = 100  # accepted on decode as a date, never emitted
FULL_DATE = 1004  # date: RFC 3339 full-date text
COMPLEX = 43000  # complex: [real, imag]
SELF_DESCRIBED = 55799  # accepted (and ignored) on decode

# Private tags of lumenize_trio (not IANA-registered).
_BASE = 0x4C4D5400
TUPLE = _BASE + 0  # array
FROZENSET = _BASE + 1  # array
BYTEARRAY = _BASE + 2  # byte string
IDENTITY_MAP = _BASE + 3  # array of alternating keys and values: [k1, v1, k2, v2, ...]
EXCEPTION = _BASE + 4  # map, see docs/protocol.md#exceptions
OBJECT = _BASE + 5  # [registered name, {attribute: value}]
NAIVE_DATETIME = _BASE + 6  # ISO 8601 text with no offset
TIMEDELTA = _BASE + 7  # [days, seconds, microseconds], normalised as Python does
PATTERN = _BASE + 8  # [pattern (text or bytes), flags (int, Python re flag bits)]
DECIMAL_TEXT = _BASE + 9  # Decimal that tag 4 cannot carry (NaN, sNaN, ±Infinity, -0): its text
HEADERS = _BASE + 10  # httpx.Headers: array of [name, value] pairs of Latin-1 text (the raw bytes)
GRAPH = _BASE + 11  # root only: [root, [body 0, body 1, ...]] for values with shared objects
REF = _BASE + 12  # inside a GRAPH: the index of a body
