"""The published vocabulary as documents: a JSON Schema per event type version, and the glossary.

Pure functions; `events.schema_files` writes what they return.
"""

from typing import Any

from events.registry import EventPayload, glossary_line, registered_types

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = "https://caseweave.org/schemas"
SECTIONS: dict[str, str] = {
    "shared": "Shared by every organisation",
    "consent": "Consent and objection to sharing (any organisation records them)",
    "housing": "Housing",
    "mental_health": "Mental health",
    "voluntary": "Voluntary sector",
    "identity": "Identity decisions (recorded by the projection)",
    "governance": "Governance alerts (recorded by the projection)",
    "inbound": "Charities' systems (recorded by an organisation's adapters)",
}

_INTRO = """\
# Caseweave event glossary

<!-- Generated from the models in events/ by `caseweave schemas export`; do not edit. -->

Every event travels in the same envelope (`events/envelope.py`): `event_id` (a time-ordered
UUID), `type` and `schema_version` (which entry below the payload follows), `occurred_at` (when
it happened) and `recorded_at` (when it was written down), `org` (the organisation that recorded
it), `subject` (that organisation's own reference for the person), `place` (the ward or local
authority it concerns), `category` (the kind of information, which sharing rules use),
`correlation_id` and `causation_id` (the request it belongs to and the event that caused it),
`actor` (who recorded it) and `data` (the payload). A case event's payload names its `case_id`.

When an event is recorded, its free text (a reason, an outcome, a note, a name) must hold more
than spaces (rule `not_blank`), and a date saying when something happened (`served_on`,
`placed_on`) cannot be after the day of the event's `occurred_at` (rule `not_in_future`).
Events read back are not checked again: one recorded before a rule existed still loads.

Each organisation keeps its own words: a housing officer's "relief duty", a trust's "care
coordinator", a day centre's "key work". They map onto the types below, and each meaning is
written so a colleague in another organisation understands it. The JSON Schema of every type
and version is in `schemas/<type>/v<version>.json`.

An organisation is one of the place's (`CASEWEAVE_ORGANISATIONS_FILE`: a council's housing
team, an NHS trust, each charity), named by an id of lower case letters, digits and
underscores; its sector (`housing`, `mental_health`, `voluntary`) says which of the
vocabularies below it records. Fields naming an organisation (`org`, `to_org`, `from_org`,
`recipients`...) once listed the three sectors' ids; their schemas now take any such id. This
widened them without a new version: every event recorded before still validates, and a
consumer on an older schema reads the events of the three organisations it knew.
"""


def published_types() -> list[type[EventPayload]]:
    """Return the event types the `events` package defines, ordered by name and version."""
    return [model for model in registered_types() if _section(model) in SECTIONS]


def schema_path(model: type[EventPayload]) -> str:
    """Return where an event type version's schema lives, relative to the schemas directory."""
    return f"{model.event_type}/v{model.schema_version}.json"


def event_schema(model: type[EventPayload]) -> dict[str, Any]:
    """Return the JSON Schema of one event type version, with its glossary entry and category."""
    return {
        **model.model_json_schema(),
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE_URL}/{model.event_type}/v{model.schema_version}.json",
        "title": model.event_type,
        "description": glossary_line(model),
        "x-category": model.category,
        **({"x-personal-fields": sorted(model.personal_fields)} if model.personal_fields else {}),
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return every published event type version's JSON Schema by its relative file path."""
    return {schema_path(model): event_schema(model) for model in published_types()}


def glossary_markdown() -> str:
    """Return the glossary: the envelope explained, then a table of types per organisation."""
    tables = [_section_table(section, title) for section, title in SECTIONS.items()]
    return "\n".join([_INTRO, *tables])


def _section(model: type[EventPayload]) -> str:
    package, _, module = model.__module__.partition(".")
    return module if package == "events" else ""


def _section_table(section: str, title: str) -> str:
    rows = [
        f"| `{model.event_type}` | {model.schema_version} | `{model.category}` | "
        f"{_escape_cell(glossary_line(model))} |"
        for model in published_types()
        if _section(model) == section
    ]
    header = ["| Type | Version | Category | Meaning |", "| --- | --- | --- | --- |"]
    return "\n".join([f"## {title}", "", *header, *rows, ""])


def _escape_cell(text: str) -> str:
    return text.replace("|", r"\|")
