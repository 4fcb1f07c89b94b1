"""`caseweave sources check|try`: a charity shapes its mapping before anything is recorded."""

import json
from pathlib import Path

import pytest

from services.cli.main import main

EXAMPLE = Path(__file__).parents[2] / "deploy" / "adapters" / "sources.example.toml"


def test_check_says_what_each_source_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr()
    assert "eastside_drop_in: writes voluntary's records" in out.out
    assert "session.logged (record_event)" in out.out
    assert "2 source(s), every mapping valid" in out.err


def test_check_names_the_file_and_the_rule_a_mapping_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.toml").write_text(
        'kind_field = "k"\nperson_id_field = "p"\ncase_id_field = "c"\nplace = "E1"\n'
        '[kinds.x]\ncommand = "record_event"\nevent_type = "voluntary.food_support_given"\n'
        'values = { food = "f" }\n'
    )
    secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    (tmp_path / "s.toml").write_text(
        f'[sources.a]\norg = "voluntary"\nsecrets = ["{secret}"]\nmapping = "m.toml"\n'
    )
    assert main(["sources", "check", str(tmp_path / "s.toml")]) == 1
    err = capsys.readouterr().err
    assert "m.toml" in err
    assert "has no ['food']" in err


def test_try_shows_what_a_message_and_each_csv_row_would_become(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "m.json"
    message.write_text(json.dumps({"event": "food.given", "client": {"id": "C-1"},
                                   "case": {"id": "K-1"}, "food": {"type": "PARCEL"}}))  # fmt: skip
    args = ["sources", "try", "--sources-file", str(EXAMPLE), "--source"]
    assert main([*args, "eastside_drop_in", str(message)]) == 0
    assert '"kind": "food_parcel"' in capsys.readouterr().out
    export = tmp_path / "x.csv"
    export.write_text("Type,Client ID,Session,Minutes,Case ID\nsession,C-1,Walk,30,K-1\n")
    assert main([*args, "drop_in_spreadsheet", str(export)]) == 1
    assert "line 2: not applicable: Session: unknown_code" in capsys.readouterr().out
