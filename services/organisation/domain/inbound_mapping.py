"""How a charity's own messages become Caseweave commands: a mapping per source, written as
configuration (TOML), never code.

A message (a webhook's JSON body, or one row of a CSV export as a flat dict) says in the
charity's own terms what happened: `kind_field` names the field that says which kind of
message it is. Per kind, the mapping names the command (register a person, open a case,
record an event of the vocabulary, close a case), where each of the command's values is in
the message (a dotted path: `client.first_name`), what the charity's codes mean in our
vocabulary (`codes`), and how it writes dates (`date_format`, e.g. `%d/%m/%Y`).

The charity's own ids name its people and cases (`person_id_field`, `case_id_field`): a
person is found by their local id (the charity's record id), a case by an id derived from
the source and the charity's case id, so the same message always means the same thing.
What cannot be mapped is said precisely (`Unmappable`: which field, which rule), never
guessed: the caller keeps it aside (quarantine) until the mapping is fixed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, get_args, get_origin
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from events.envelope import OrgId
from events.registry import EventPayload, UnknownEventType, latest_model
from events.shared import CaseEvent

CommandName = Literal[
    "register_person",
    "open_case",
    "record_event",
    "close_case",
    "accept_referral",
    "decline_referral",
]
_NEEDS_CASE: frozenset[CommandName] = frozenset({"open_case", "record_event", "close_case"})
_ON_REFERRALS: frozenset[CommandName] = frozenset({"accept_referral", "decline_referral"})
_SOURCE_NAMESPACE = UUID("5b7f0c8e-2f4a-4f0b-9c61-3c1a2d7e9b10")  # ids derived from sources'


class KindMapping(BaseModel):
    """What one kind of the charity's messages is in our terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: CommandName
    event_type: str | None = Field(
        default=None, description="record_event: the event type of our vocabulary"
    )
    values: dict[str, str] = Field(
        default_factory=dict,
        description="each of the command's values (a dotted name: key_worker.name) and where"
        " it is in the message (a dotted path)",
    )
    constants: dict[str, Any] = Field(
        default_factory=dict, description="values the same in every message of this kind"
    )
    codes: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="per value: the charity's codes and what each means in our vocabulary",
    )

    @model_validator(mode="after")
    def _event_type_when_recording(self) -> "KindMapping":
        if (self.command == "record_event") != (self.event_type is not None):
            raise ValueError("event_type is given exactly when the command is record_event")
        if self.event_type is not None:
            try:
                model = latest_model(self.event_type)
            except UnknownEventType as error:
                raise ValueError(f"{self.event_type} is no event type of ours") from error
            if not issubclass(model, CaseEvent):
                raise ValueError(f"{self.event_type} is not recorded on a case")
        unknown = set(self.codes) - set(self.values)
        if unknown:
            raise ValueError(f"codes given for values not mapped: {sorted(unknown)}")
        if self.event_type is not None:
            self._fits_the_event_type(latest_model(self.event_type))
        return self

    def _fits_the_event_type(self, model: type[EventPayload]) -> None:
        """Refuse values the event type does not have, and codes it does not take."""
        fields = set(model.model_fields) - {"case_id"}
        named = {name.split(".")[0] for name in [*self.values, *self.constants]}
        if named - fields:
            raise ValueError(
                f"{self.event_type} has no {sorted(named - fields)}; it has {sorted(fields)}"
            )
        for name, codes in self.codes.items():
            allowed = _literal_values(model.model_fields[name.split(".")[0]].annotation)
            wrong = sorted(set(codes.values()) - allowed) if allowed else []
            if wrong:
                raise ValueError(f"{name}: {wrong} not among {sorted(allowed)}")


class SourceMapping(BaseModel):
    """A source's mapping: how to read each kind of its messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind_field: str | None = Field(
        default=None, description="the message field naming its kind (a dotted path)"
    )
    kind: str | None = Field(
        default=None, description="instead: the kind of every message (a CSV export of one kind)"
    )
    person_id_field: str = Field(description="where the charity's id of the person is")
    case_id_field: str | None = Field(
        default=None, description="where the charity's id of the case is (for case commands)"
    )
    referral_id_field: str | None = Field(
        default=None,
        description="where our referral id is (for referral decisions: the charity's system"
        " learnt it from the webhook telling it of the referral)",
    )
    date_format: str = Field(
        default="%Y-%m-%d", description="how the charity writes dates (strptime codes)"
    )
    place: str = Field(description="the place code of people this source registers")
    kinds: dict[str, KindMapping] = Field(min_length=1)

    @field_validator("date_format")
    @classmethod
    def _a_date_format(cls, value: str) -> str:
        try:
            datetime.strptime(date(2026, 3, 4).strftime(value), value)
        except ValueError as error:
            raise ValueError(f"not a strptime date format: {value}") from error
        return value

    @model_validator(mode="after")
    def _one_way_to_the_kind(self) -> "SourceMapping":
        if (self.kind_field is None) == (self.kind is None):
            raise ValueError("give kind_field (where each message says its kind) or kind")
        if self.kind is not None and self.kind not in self.kinds:
            raise ValueError(f"kind {self.kind!r} is not one of the kinds mapped")
        return self

    @model_validator(mode="after")
    def _case_id_for_case_commands(self) -> "SourceMapping":
        commands = {k.command for k in self.kinds.values()}
        if self.case_id_field is None and commands & _NEEDS_CASE:
            raise ValueError("case_id_field is needed: some kinds open, close or record on cases")
        if self.referral_id_field is None and commands & _ON_REFERRALS:
            raise ValueError("referral_id_field is needed: some kinds accept or decline referrals")
        return self


@dataclass(frozen=True)
class Unmappable:
    """Why a message cannot become a command: the field (in the message, or of ours) and rule."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class MappedCommand:
    """A message in our terms: the command, the charity's ids of its person (and case), and
    the command's values (dates as dates, codes as ours), not validated yet."""

    command: CommandName
    person_ref: str
    case_ref: str | None
    event_type: str | None
    values: dict[str, Any]
    referral_ref: str | None = None


def map_message(mapping: SourceMapping, message: Mapping[str, Any]) -> MappedCommand | Unmappable:
    """Return the command a message is, or why it cannot be one."""
    kind_field = mapping.kind_field or "kind"
    kind = mapping.kind or _at(message, kind_field)
    if kind is None:
        return Unmappable(kind_field, "missing", "the message does not say its kind")
    kind_mapping = mapping.kinds.get(str(kind))
    if kind_mapping is None:
        known = ", ".join(sorted(mapping.kinds))
        return Unmappable(kind_field, "unknown_kind", f"{kind!r} is not one of: {known}")
    refs = _references(mapping, kind_mapping.command, message)
    if isinstance(refs, Unmappable):
        return refs
    values: dict[str, Any] = {}
    for name, path in kind_mapping.values.items():
        value = _value(mapping, kind_mapping, name, _at(message, path))
        if isinstance(value, Unmappable):
            return Unmappable(path, value.rule, value.message)
        if value is not None:
            _put(values, name, value)
    for name, constant in kind_mapping.constants.items():
        _put(values, name, constant)
    person_ref, case_ref, referral_ref = refs
    return MappedCommand(
        kind_mapping.command, person_ref, case_ref, kind_mapping.event_type, values, referral_ref
    )


def _references(
    mapping: SourceMapping, command: CommandName, message: Mapping[str, Any]
) -> tuple[str, str | None, str | None] | Unmappable:
    """Return the charity's ids of the message's person and case, and our referral's id
    (a referral decision names the referral, not the person; a case if accepting opens one)."""
    fields = (
        (mapping.person_id_field, command not in _ON_REFERRALS, "the person's id is missing"),
        (mapping.case_id_field, command in _NEEDS_CASE, "the case's id is missing"),
        (mapping.referral_id_field, command in _ON_REFERRALS, "the referral's id is missing"),
    )
    found: list[str | None] = []
    for field, needed, missing in fields:
        value = None if field is None else _at(message, field)
        given = None if value is None or str(value).strip() == "" else str(value).strip()
        if needed and given is None:
            return Unmappable(field or "message", "missing", missing)
        found.append(given)
    person, case, referral = found
    return person or "", case, referral


def person_ref_of(mapping: SourceMapping, message: Mapping[str, Any]) -> str | None:
    """Return the charity's id of the person a message names, if it names one."""
    ref = _at(message, mapping.person_id_field)
    return None if ref is None or str(ref).strip() == "" else str(ref).strip()


def _value(mapping: SourceMapping, kind: KindMapping, name: str, raw: Any) -> Any | Unmappable:
    """Return a value in our terms: a code translated, a date parsed (None: not given)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if name in kind.codes:
        ours = kind.codes[name].get(str(raw).strip())
        if ours is None:
            known = ", ".join(sorted(kind.codes[name]))
            return Unmappable(name, "unknown_code", f"{raw!r} is not one of: {known}")
        return ours
    if _is_date(kind, name):
        try:
            return datetime.strptime(str(raw).strip(), mapping.date_format).date()
        except ValueError:
            return Unmappable(
                name, "date_format", f"{raw!r} is not a date written as {mapping.date_format}"
            )
    return raw.strip() if isinstance(raw, str) else raw


def _is_date(kind: KindMapping, name: str) -> bool:
    """Tell whether the command's value `name` is a date (the charity writes it its way)."""
    if kind.command == "register_person":
        return name == "date_of_birth"
    if kind.event_type is None or "." in name:
        return False
    field = latest_model(kind.event_type).model_fields.get(name)
    if field is None:
        return False
    annotation = field.annotation
    kinds = get_args(annotation) if get_origin(annotation) is not None else (annotation,)
    return date in kinds and datetime not in kinds


def _at(message: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path (None when any step is missing). A flat message
    (a CSV row) may also hold the whole path as one key."""
    if path in message:
        return message[path]
    current: Any = message
    for step in path.split("."):
        if not isinstance(current, Mapping) or step not in current:
            return None
        current = current[step]
    return current


def _put(values: dict[str, Any], name: str, value: Any) -> None:
    """Set a dotted name (key_worker.name) in nested dicts."""
    *parents, last = name.split(".")
    current = values
    for parent in parents:
        current = current.setdefault(parent, {})
    current[last] = value


def source_case_id(source: str, case_ref: str) -> UUID:
    """Return our id of a source's case: the same for the same source and case, always."""
    return uuid5(_SOURCE_NAMESPACE, f"{source}:case:{case_ref}")


def source_person_id(source: str, person_ref: str) -> UUID:
    """Return the id a person a source registers gets: the same for the same record, always."""
    return uuid5(_SOURCE_NAMESPACE, f"{source}:person:{person_ref}")


@dataclass(frozen=True)
class Source:
    """A charity's system allowed to push to an organisation: its name (the `{source}` of
    `POST /v1/inbound/{source}`), the organisation whose records it writes, the secrets its
    messages are signed with (several while one is rotated out), and its mapping."""

    name: str
    org: OrgId
    secrets: tuple[str, ...]
    mapping: SourceMapping
    endpoint: str | None = None  # where its system takes our webhooks (None: it polls)

    @property
    def actor(self) -> str:
        """Return how events name this source as their recorder."""
        return f"{self.org}/adapter/{self.name}"


def _literal_values(annotation: Any) -> set[str]:
    """Return the values a Literal field takes (empty when it is no Literal)."""
    if get_origin(annotation) is Literal:
        return {str(v) for v in get_args(annotation)}
    for inner in get_args(annotation):  # Optional[Literal[...]]
        if get_origin(inner) is Literal:
            return {str(v) for v in get_args(inner)}
    return set()
