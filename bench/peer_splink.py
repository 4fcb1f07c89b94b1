"""The linkage part's peer: Splink (4.x, on DuckDB) with the fields Caseweave records.

Trained as Splink's own tutorials train it on FEBRL, without labels: the chance that two
random records match from deterministic rules, u by random sampling, m by expectation
maximisation in two sessions (blocked on the birth date, then on the family name). Its
comparisons are Splink's stock ones for names and dates of birth, a postcode (exact, one
edit, the same first two characters) and Jaro-Winkler levels for the address line (as
Splink's FEBRL example compares FEBRL's street). Links are the pairs predicted at match probability
>= 0.9 (as the Splink FEBRL examples do).
"""

import logging
import time
from typing import Any

from bench.linkage import LINKAGE_PEOPLE, measured
from bench.linkage_data import Dataset, Outcome, load, ordered
from bench.part import BenchContext, Measurement

LINK_PROBABILITY = 0.9
NOTE = (
    f"Splink on DuckDB, the same five fields, EM-trained without labels, links at "
    f"p >= {LINK_PROBABILITY} (no review queue)"
)


async def run(ctx: BenchContext) -> list[Measurement]:
    """Link FEBRL4 and deduplicate FEBRL3 with Splink; return the figures."""
    measurements = []
    for dataset in load(ctx.size(LINKAGE_PEOPLE.name)):
        measurements += measured(dataset, link_with_splink(dataset), "peer")
    return measurements


def link_with_splink(dataset: Dataset) -> Outcome:
    """Train Splink on the dataset's records (no labels) and return the pairs it links."""
    import pandas as pd  # noqa: PLC0415 (the linkage extra)
    import splink.comparison_library as cl  # noqa: PLC0415
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: PLC0415

    logging.getLogger("splink").setLevel(logging.ERROR)
    frames = [pd.DataFrame(rows).astype("string") for rows in dataset.files]
    blocking = [
        block_on("date_of_birth"),
        block_on("substr(surname, 1, 3)", "substr(given_name, 1, 1)"),
        block_on("postcode", "substr(given_name, 1, 1)"),
        block_on("substr(given_name, 1, 3)", "substr(date_of_birth, 1, 4)"),
    ]
    settings = SettingsCreator(
        link_type="dedupe_only" if dataset.deduplicate else "link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            _postcode(cl),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
        ],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    began = time.perf_counter()
    linker = Linker(frames, settings, db_api=DuckDBAPI(), set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=16)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("surname"), estimate_without_term_frequencies=True
    )
    predicted = linker.inference.predict().as_pandas_dataframe()
    seconds = time.perf_counter() - began
    return _outcome(dataset, predicted, seconds)


def _postcode(cl: Any) -> Any:
    """Exact, one edit, the same first two characters (FEBRL's postcodes are Australian:
    Splink's PostcodeComparison parses UK ones)."""
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            _level_null("postcode"),
            {"sql_condition": '"postcode_l" = "postcode_r"', "label_for_charts": "exact"},
            {
                "sql_condition": 'levenshtein("postcode_l", "postcode_r") <= 1',
                "label_for_charts": "one edit",
            },
            {
                "sql_condition": 'substr("postcode_l", 1, 2) = substr("postcode_r", 1, 2)',
                "label_for_charts": "same area",
            },
            {"sql_condition": "ELSE", "label_for_charts": "else"},
        ],
    )


def _level_null(column: str) -> dict[str, Any]:
    return {
        "sql_condition": f'"{column}_l" IS NULL OR "{column}_r" IS NULL',
        "label_for_charts": "null",
        "is_null_level": True,
    }


def _outcome(dataset: Dataset, predicted: Any, seconds: float) -> Outcome:
    pairs = {
        ordered(a, b): p
        for a, b, p in zip(
            predicted["rec_id_l"], predicted["rec_id_r"], predicted["match_probability"],
            strict=True,
        )
    }  # fmt: skip
    links = frozenset(pair for pair, p in pairs.items() if p >= LINK_PROBABILITY)
    compared_true = sum(pair in dataset.true_pairs for pair in pairs)
    return Outcome(len(pairs), compared_true, links, frozenset(), seconds)
