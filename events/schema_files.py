"""The committed schema files and glossary: write them from the models, or find where they drifted.

`caseweave schemas export` calls `export_schemas`; `caseweave schemas check` calls `find_drift`.
"""

import json
from pathlib import Path

from events.catalogue import glossary_markdown, json_schemas


def expected_files(schemas_dir: Path, glossary_path: Path) -> dict[Path, str]:
    """Return the text every schema file and the glossary should hold, by path."""
    files = {
        schemas_dir / relative: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for relative, schema in json_schemas().items()
    }
    return {**files, glossary_path: glossary_markdown()}


def export_schemas(schemas_dir: Path, glossary_path: Path) -> list[Path]:
    """Write every event type's schema file and the glossary, removing schemas of no type."""
    expected = expected_files(schemas_dir, glossary_path)
    for stale in _stale_schema_files(schemas_dir, expected):
        stale.unlink()
    _remove_empty_dirs(schemas_dir)
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    return sorted(expected)


def find_drift(schemas_dir: Path, glossary_path: Path) -> list[str]:
    """Describe each schema file or glossary that is missing, stale or differs from the models."""
    expected = expected_files(schemas_dir, glossary_path)
    drift = [
        f"{path}: missing" if not path.exists() else f"{path}: differs from the event models"
        for path, text in sorted(expected.items())
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    stale = _stale_schema_files(schemas_dir, expected)
    return drift + [f"{path}: stale, no registered event type version has it" for path in stale]


def _stale_schema_files(schemas_dir: Path, expected: dict[Path, str]) -> list[Path]:
    return sorted(path for path in schemas_dir.rglob("*.json") if path not in expected)


def _remove_empty_dirs(schemas_dir: Path) -> None:
    directories = (path for path in schemas_dir.rglob("*") if path.is_dir())
    for directory in sorted(directories, reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
