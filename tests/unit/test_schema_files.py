"""The committed JSON Schemas and glossary: generated from the models, and drift is reported."""

import json
from pathlib import Path

import pytest

from events.catalogue import glossary_markdown, json_schemas, published_types
from events.registry import glossary_line, registered_types
from events.schema_files import export_schemas, find_drift

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    """A freshly exported schemas directory and glossary."""
    schemas_dir, glossary = tmp_path / "schemas", tmp_path / "GLOSSARY.md"
    export_schemas(schemas_dir, glossary)
    return schemas_dir, glossary


def test_committed_schemas_and_glossary_match_the_models() -> None:
    """The files in schemas/ and events/GLOSSARY.md are what `caseweave schemas export` writes."""
    assert find_drift(REPO / "schemas", REPO / "events" / "GLOSSARY.md") == []


def test_every_event_type_is_published() -> None:
    """No registered type is left out of the schemas and glossary."""
    assert published_types() == registered_types()


def test_each_schema_names_its_type_version_meaning_and_category() -> None:
    """A schema file says which type and version it describes, what it means, and its category."""
    for model in published_types():
        schema = json_schemas()[f"{model.event_type}/v{model.schema_version}.json"]
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == (
            f"https://caseweave.org/schemas/{model.event_type}/v{model.schema_version}.json"
        )
        assert (schema["title"], schema["description"]) == (model.event_type, glossary_line(model))
        assert schema["x-category"] == model.category
        assert schema["additionalProperties"] is False


def test_case_events_require_their_case_id() -> None:
    """A case event's schema carries the case it belongs to."""
    schema = json_schemas()["mental_health.discharged/v1.json"]
    assert "case_id" in schema["required"]


def test_glossary_lists_every_type_under_its_organisation() -> None:
    """A worker finds each event type, with its meaning, under their organisation's heading."""
    glossary = glossary_markdown()
    assert glossary.endswith("\n")
    for model in published_types():
        assert f"| `{model.event_type}` | {model.schema_version} |" in glossary
        assert glossary_line(model) in glossary
    headings = [line for line in glossary.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Shared by every organisation",
        "## Consent and objection to sharing (any organisation records them)",
        "## Housing",
        "## Mental health",
        "## Voluntary sector",
        "## Identity decisions (recorded by the projection)",
        "## Governance alerts (recorded by the projection)",
        "## Charities' systems (recorded by an organisation's adapters)",
    ]


def test_export_writes_the_same_bytes_every_time(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """Exporting twice gives identical files, so the diff shows only real changes."""
    again = tmp_path / "again"
    export_schemas(again / "schemas", again / "GLOSSARY.md")
    for path in exported[0].rglob("*.json"):
        assert (again / "schemas" / path.relative_to(exported[0])).read_text() == path.read_text()
    assert (again / "GLOSSARY.md").read_text() == exported[1].read_text()


def test_exported_files_have_no_drift(exported: tuple[Path, Path]) -> None:
    """Right after an export, the check finds nothing to report."""
    assert find_drift(*exported) == []


def test_an_edited_schema_file_is_reported(exported: tuple[Path, Path]) -> None:
    """Hand-editing a generated schema shows up in `caseweave schemas check`."""
    schemas_dir, glossary = exported
    edited = schemas_dir / "voluntary.disengaged" / "v1.json"
    schema = json.loads(edited.read_text())
    edited.write_text(json.dumps({**schema, "title": "hand edited"}, indent=2))
    assert find_drift(schemas_dir, glossary) == [f"{edited}: differs from the event models"]


def test_a_deleted_schema_file_is_reported(exported: tuple[Path, Path]) -> None:
    """A schema missing for a registered type shows up in the check."""
    schemas_dir, glossary = exported
    deleted = schemas_dir / "housing.tenancy_at_risk" / "v1.json"
    deleted.unlink()
    assert find_drift(schemas_dir, glossary) == [f"{deleted}: missing"]


def test_an_edited_glossary_is_reported(exported: tuple[Path, Path]) -> None:
    """The glossary is generated too; editing it by hand shows up in the check."""
    schemas_dir, glossary = exported
    glossary.write_text(glossary.read_text() + "A hand-written note.\n")
    assert find_drift(schemas_dir, glossary) == [f"{glossary}: differs from the event models"]


def test_a_schema_for_no_registered_type_is_reported_and_removed_by_export(
    exported: tuple[Path, Path],
) -> None:
    """A schema left behind by a removed type is stale: the check names it, export deletes it."""
    schemas_dir, glossary = exported
    stale = schemas_dir / "housing.retired_type" / "v1.json"
    stale.parent.mkdir()
    stale.write_text("{}\n")
    assert find_drift(schemas_dir, glossary) == [
        f"{stale}: stale, no registered event type version has it"
    ]
    export_schemas(schemas_dir, glossary)
    assert not stale.parent.exists()
    assert find_drift(schemas_dir, glossary) == []
