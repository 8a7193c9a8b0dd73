"""Rebuilding values from decoded payloads: the checks and constructors both decode paths share.

Every function here validates what a peer sent and raises :class:`DataCloneError` naming what was
wrong. Nothing here imports by name or calls a user ``__init__``.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final, TypeVar, cast

import httpx

from .._exceptions import DataCloneError, RemoteError
from . import _registry

T = TypeVar("T")
_C_FIELDS: Final = (types.GetSetDescriptorType, types.MemberDescriptorType)

_IMPLIED_BASES: Final = frozenset({RemoteError, Exception, BaseException})


def fail(what: str) -> DataCloneError:
    return DataCloneError(f"malformed clone: {what}")


def expect_sequence(value: object, what: str) -> Sequence[object]:
    if type(value) is list or type(value) is tuple:
        return cast("Sequence[object]", value)
    raise fail(f"{what} must be an array, got {type(value).__name__}")


def expect_mapping(value: object, what: str) -> Mapping[object, object]:
    if isinstance(value, Mapping):
        return value
    raise fail(f"{what} must be a map, got {type(value).__name__}")


def expect(value: object, cls: type[T], what: str) -> T:
    if type(value) is not cls:
        raise fail(f"{what} must be {cls.__name__}, got {type(value).__name__}")
    return value  # type(value) is cls narrows it


def attribute_name(name: object, what: str) -> str:
    if type(name) is not str or not name or (name.startswith("__") and name.endswith("__")):
        raise fail(f"{what}: {name!r} is not an allowed attribute name")
    return name


# --- atoms -------------------------------------------------------------------------------------


def aware_datetime(value: object, immutable: bool) -> dt.datetime:
    text = expect(value, str, "tag 0 (date/time)")
    try:
        result = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"tag 0 holds {text!r}, not an RFC 3339 date/time") from None
    if result.utcoffset() is None:
        raise fail(f"tag 0 holds {text!r}, which has no UTC offset")
    return result


def epoch_datetime(value: object, immutable: bool) -> dt.datetime:
    if type(value) not in (int, float):
        raise fail(f"tag 1 (epoch date/time) must hold a number, got {type(value).__name__}")
    try:
        return dt.datetime.fromtimestamp(cast("float", value), dt.UTC)
    except (OverflowError, ValueError, OSError):
        raise fail(f"tag 1 holds {value!r}, which is out of range") from None


def naive_datetime(value: object, immutable: bool) -> dt.datetime:
    text = expect(value, str, "naive date/time")
    try:
        result = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"naive date/time {text!r} is not ISO 8601") from None
    if result.utcoffset() is not None:
        raise fail(f"naive date/time {text!r} has an offset")
    return result


def full_date(value: object, immutable: bool) -> dt.date:
    text = expect(value, str, "tag 1004 (full-date)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"tag 1004 holds {text!r}, not a full-date") from None


def days_since_epoch(value: object, immutable: bool) -> dt.date:
    days = expect(value, int, "tag 100 (days since epoch)")
    try:
        return dt.date(1970, 1, 1) + dt.timedelta(days=days)
    except OverflowError:
        raise fail(f"tag 100 holds {days!r}, which is out of range") from None


def timedelta(value: object, immutable: bool) -> dt.timedelta:
    parts = expect_sequence(value, "timedelta")
    if len(parts) != 3 or any(type(p) is not int for p in parts):
        raise fail("timedelta must be [days, seconds, microseconds] integers")
    days, seconds, microseconds = cast("tuple[int, int, int]", tuple(parts))
    try:
        return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)
    except OverflowError:
        raise fail("timedelta is out of range") from None


def decimal_fraction(value: object, immutable: bool) -> Decimal:
    parts = expect_sequence(value, "tag 4 (decimal fraction)")
    if len(parts) != 2 or type(parts[0]) is not int or type(parts[1]) is not int:
        raise fail("tag 4 must be [exponent, mantissa] integers")
    exponent, mantissa = cast("tuple[int, int]", tuple(parts))
    try:
        digits = tuple(int(d) for d in str(abs(mantissa)))
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise fail("tag 4 mantissa has too many digits") from None
    return Decimal((int(mantissa < 0), digits, exponent))


def decimal_text(value: object, immutable: bool) -> Decimal:
    text = expect(value, str, "decimal text")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise fail(f"{text!r} is not a decimal") from None


def rational(value: object, immutable: bool) -> Fraction:
    parts = expect_sequence(value, "tag 30 (rational)")
    if len(parts) != 2 or type(parts[0]) is not int or type(parts[1]) is not int or parts[1] <= 0:
        raise fail("tag 30 must be [numerator, positive denominator] integers")
    return Fraction(parts[0], parts[1])


def uuid_(value: object, immutable: bool) -> uuid.UUID:
    raw = expect(value, bytes, "tag 37 (UUID)")
    if len(raw) != 16:
        raise fail(f"tag 37 must hold 16 bytes, got {len(raw)}")
    return uuid.UUID(bytes=raw)


def pattern(value: object, immutable: bool) -> re.Pattern[str] | re.Pattern[bytes]:
    parts = expect_sequence(value, "pattern")
    if len(parts) != 2 or type(parts[0]) not in (str, bytes) or type(parts[1]) is not int:
        raise fail("pattern must be [text or bytes, flags]")
    return _compile(*cast("tuple[str | bytes, int]", tuple(parts)))


def regex(value: object, immutable: bool) -> re.Pattern[str] | re.Pattern[bytes]:
    return _compile(expect(value, str, "tag 35 (regular expression)"), 0)


def _compile(source: str | bytes, flags: int) -> re.Pattern[str] | re.Pattern[bytes]:
    try:
        return re.compile(source, flags)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise fail(f"pattern {source!r} with flags {flags} does not compile: {exc}") from None


def url(value: object, immutable: bool) -> httpx.URL:
    text = expect(value, str, "tag 32 (URI)")
    try:
        return httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise fail(f"tag 32 holds {text!r}, not a URL: {exc}") from None


def headers(value: object, immutable: bool) -> httpx.Headers:
    pairs = expect_sequence(value, "headers")
    items: list[tuple[bytes, bytes]] = []
    for pair in pairs:
        entry = expect_sequence(pair, "a header")
        if len(entry) != 2 or type(entry[0]) is not str or type(entry[1]) is not str:
            raise fail("a header must be [name, value] text")
        name, text = cast("tuple[str, str]", tuple(entry))
        try:  # the wire carries the raw header bytes as Latin-1 text
            items.append((name.encode("latin-1"), text.encode("latin-1")))
        except UnicodeEncodeError:
            raise fail(f"header {name!r} is not Latin-1 text (raw header bytes)") from None
    return httpx.Headers(items)


def complex_(value: object, immutable: bool) -> complex:
    parts = expect_sequence(value, "tag 43000 (complex)")
    if len(parts) != 2 or any(type(p) not in (int, float) for p in parts):
        raise fail("tag 43000 must be [real, imag] numbers")
    return complex(*cast("tuple[float, float]", tuple(parts)))


def bytearray_(value: object, immutable: bool) -> bytearray:
    return bytearray(expect(value, bytes, "bytearray"))


def wtf8(value: object, immutable: bool) -> str:
    raw = expect(value, bytes, "tag 273 (WTF-8 string)")
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise fail("tag 273 holds bytes that are not WTF-8") from None


# --- containers --------------------------------------------------------------------------------


def hashable_members(items: Sequence[object], what: str) -> None:
    for item in items:
        try:
            hash(item)
        except TypeError:
            raise fail(f"{what} holds an unhashable {type(item).__name__}") from None


def identity_pairs(value: object) -> Sequence[object]:
    flat = expect_sequence(value, "identity map")
    if len(flat) % 2:
        raise fail("identity map must hold an even number of items (key, value, ...)")
    return flat


def new_object(value: object) -> tuple[object, Mapping[object, object]]:
    """An empty instance of the registered class named in an object payload, and its state."""
    parts = expect_sequence(value, "object")
    if len(parts) != 2 or type(parts[0]) is not str:
        raise fail("object must be [registered name, {attribute: value}]")
    name, state = cast("tuple[str, object]", tuple(parts))
    cls = _registry.class_named(name)
    if cls is None or issubclass(cls, BaseException):
        raise fail(f"object class {name!r} is not registered on this side (see clone.register)")
    return cls.__new__(cls), expect_mapping(state, f"state of {name}")


def set_attribute(obj: object, name: str, value: object) -> None:
    """Restore one attribute exactly as it was read: slots by descriptor, the rest in ``__dict__``."""
    if name in _registry.slots_of(type(obj)):
        object.__setattr__(obj, name, value)
        return
    try:
        obj.__dict__[name] = value
    except AttributeError:
        raise fail(f"{type(obj).__qualname__} has no attribute {name!r}") from None


class ExceptionPayload:
    """The checked fields of an exception payload (values not yet rebuilt in the graph path)."""

    __slots__ = (
        "args",
        "attrs",
        "base",
        "cause",
        "has_cause",
        "name",
        "notes",
        "traceback",
    )

    def __init__(self, value: object) -> None:
        fields = expect_mapping(value, "exception")
        name = fields.get("name")
        if type(name) is not str:
            raise fail("exception needs a text 'name'")
        self.name: str = name
        base = fields.get("base")
        if base is not None and type(base) is not str:
            raise fail("exception 'base' must be text")
        self.base: str | None = base
        self.args: Sequence[object] = expect_sequence(fields.get("args", []), "exception args")
        self.attrs: Mapping[object, object] = expect_mapping(fields.get("attrs", {}), "exception attrs")
        self.has_cause = "cause" in fields
        self.cause: object = fields.get("cause")
        self.notes: Sequence[object] = expect_sequence(fields.get("notes", []), "exception notes")
        tb = fields.get("traceback")
        if tb is not None and type(tb) is not str:
            raise fail("exception 'traceback' must be text")
        self.traceback: str | None = tb


def new_exception(name: str, base: str | None, args: tuple[object, ...]) -> BaseException:
    """Make the exception an exception payload names, without calling a user ``__init__``.

    Builtin classes are called with their own ``args`` (that is how their derived fields, such as
    ``OSError.errno``, come back); registered user classes are made with ``__new__`` alone; unknown
    names become a fresh :class:`RemoteError` subclass carrying the name.
    """
    cls = _registry.class_named(name)
    if cls is None or not issubclass(cls, BaseException):
        cls = _remote_class(name, base)
    try:
        if _registry.is_builtin_exception(cls):
            try:
                return cls(*args)
            except Exception:
                pass
        exc = cls.__new__(cls, *args)
    except Exception as err:
        raise fail(f"cannot rebuild {name} from its args: {err}") from None
    if not isinstance(exc, cls):
        raise fail(f"{name}.__new__ did not return an instance")
    exc.args = args
    return exc


def _remote_class(name: str, base: str | None) -> type[BaseException]:
    qualname = name.rpartition(".")[2] or name
    namespace = {
        "remote_class_name": name,
        "__module__": "lumenize_trio.remote",
        "__qualname__": qualname,
    }
    base_cls = _registry.class_named(base) if base is not None else None
    if isinstance(base_cls, type) and issubclass(base_cls, BaseException) and base_cls not in _IMPLIED_BASES:
        try:
            return type(qualname, (RemoteError, base_cls), namespace)
        except TypeError:
            pass  # layout conflict between the bases: RemoteError alone still keeps the name
    return type(qualname, (RemoteError,), namespace)


def finish_exception(
    exc: BaseException,
    payload: ExceptionPayload,
    attrs: dict[str, object],
    cause: object,
    notes: list[object],
) -> None:
    """Set everything but args on a rebuilt exception."""
    for key, value in attrs.items():
        if isinstance(getattr(type(exc), key, None), _C_FIELDS):
            # A builtin's C field (like AttributeError.name): its descriptor is what reads it.
            try:
                setattr(exc, key, value)
            except (TypeError, AttributeError, ValueError):
                raise fail(f"{type(exc).__name__}.{key} cannot hold {type(value).__name__}") from None
        else:
            exc.__dict__[key] = value
    set_cause(exc, cause, payload.has_cause)
    if notes:
        exc.__dict__["__notes__"] = notes
    if payload.traceback is not None:
        exc.__dict__["remote_traceback"] = payload.traceback


def set_cause(exc: BaseException, cause: object, present: bool) -> None:
    if not present:
        return
    if cause is None or isinstance(cause, BaseException):
        exc.__cause__ = cause
    else:
        # A JavaScript peer may send any value as a cause; Python's __cause__ holds only exceptions.
        exc.__dict__["remote_cause"] = cause


def checked_attrs(attrs: Mapping[object, object]) -> dict[str, object]:
    return {attribute_name(k, "exception attribute"): v for k, v in attrs.items()}


def new_set(items: Sequence[object], immutable: bool) -> set[object] | frozenset[object]:
    hashable_members(items, "set")
    return frozenset(items) if immutable else set(items)
