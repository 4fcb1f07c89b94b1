"""Every event type by name and version, and how old versions are upcast to the current one.

An event type is a frozen pydantic model registered with `@event_type(...)`; its docstring's
first line is its glossary entry. Old versions stay registered and name an upcaster, so a
consumer never breaks on an event written long ago.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from events.recording_rules import ALREADY_RECORDED


class EventPayload(BaseModel):
    """Base of every event's typed payload: frozen, no behaviour, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    category: ClassVar[str]
    personal_fields: ClassVar[frozenset[str]] = frozenset()
    """Top-level fields holding personal data: sealed with the person's key when stored."""


class UnknownEventType(LookupError):
    """Raised for an event type (or version) that the vocabulary does not define."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
P = TypeVar("P", bound=type[EventPayload])


@dataclass(frozen=True)
class RegisteredType:
    """One event type version: its model and, for old versions, how to upcast to the next."""

    model: type[EventPayload]
    upcast_to_next: Upcaster | None


_TYPES: dict[tuple[str, int], RegisteredType] = {}
_LATEST: dict[str, int] = {}


def event_type(
    name: str, *, version: int = 1, category: str, upcast_to_next: Upcaster | None = None
) -> Callable[[P], P]:
    """Register a payload model as event type `name` at `version`."""

    def register(model: P) -> P:
        if (name, version) in _TYPES:
            raise ValueError(f"event type {name} v{version} is registered twice")
        if not (model.__doc__ or "").strip():
            raise ValueError(f"event type {name} needs a docstring: it is the glossary entry")
        model.event_type = name
        model.schema_version = version
        model.category = category
        _TYPES[(name, version)] = RegisteredType(model, upcast_to_next)
        _LATEST[name] = max(version, _LATEST.get(name, 0))
        return model

    return register


def latest_model(name: str) -> type[EventPayload]:
    """Return the current payload model of event type `name`."""
    if name not in _LATEST:
        raise UnknownEventType(name)
    return _TYPES[(name, _LATEST[name])].model


def registered_types() -> list[type[EventPayload]]:
    """Return every registered payload model, every version, ordered by name and version."""
    return [_TYPES[key].model for key in sorted(_TYPES)]


def decode_payload(name: str, version: int, data: dict[str, Any]) -> EventPayload:
    """Validate stored event data and upcast it to the current version of its type.

    Rules that apply when an event is recorded (`events.recording_rules`) are not applied
    again: an event recorded before a rule existed still loads.
    """
    if (name, version) not in _TYPES:
        raise UnknownEventType(f"{name} v{version}")
    while version < _LATEST[name]:
        upcast = _TYPES[(name, version)].upcast_to_next
        if upcast is None:
            raise UnknownEventType(f"{name} v{version} has no upcaster to v{version + 1}")
        data, version = upcast(data), version + 1
    return _TYPES[(name, version)].model.model_validate(data, context=ALREADY_RECORDED)


def glossary_line(model: type[EventPayload]) -> str:
    """Return the one-line glossary entry of an event type (its docstring's first line)."""
    return (model.__doc__ or "").strip().splitlines()[0]


def personal_fields_of(name: str, version: int) -> frozenset[str]:
    """Return the personal fields of an event type version (none for an unknown type)."""
    registered = _TYPES.get((name, version))
    return registered.model.personal_fields if registered else frozenset()
