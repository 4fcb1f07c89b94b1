"""Who runs a command that reads people's data goes into their access log, in a safe shape."""

import pytest

from services.cli.main import main


@pytest.mark.parametrize("name", ["Jo Bloggs", "jo/bloggs", "x" * 65])
def test_an_operator_name_that_does_not_fit_the_log_is_refused_before_anything_runs(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sar", "export", "--citizen", "00000000-0000-0000-0000-000000000001",
              "--requested-by", name])  # fmt: skip
    assert exited.value.code == 2
    assert "--requested-by" in capsys.readouterr().err
