"""`caseweave identity train|explain`: the place's matching model, learnt and explained.

`train` learns the weights of identity matching from the place's own registrations (every
organisation's latest record of each person, as the projection holds them), without labels:
u by comparing random pairs, m by expectation maximisation over the pairs blocking brings
together, and the link and review thresholds from the model's estimate of how many records
are one person. It writes a matching file (TOML: thresholds, the model and its version; the
current file's per-place thresholds carried over) to FILE, or prints it. To use it: point
CASEWEAVE_MATCHING_FILE at it, restart the projection and the organisation services, then
`caseweave replay projection` so that every stored pair is scored again.

`explain ORG:PERSON_ID ORG:PERSON_ID` shows how two records compare under the model in use
(CASEWEAVE_MATCHING_FILE): each field's comparison level, its m, u and weight, the total
against the thresholds, and the kinds of blocking key they share (none: never compared).
It shows no personal values: a steward reads those in the review queue, where the read is
logged.
"""

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

from services.identity_matching.matching import MatchingConfig
from services.identity_matching.training import RANDOM_PAIRS, TrainedModel
from services.projection.adapters.postgres_unit_of_work import postgres_units
from services.projection.adapters.read_model_schema import prepare_read_model
from services.projection.domain.linkage import PersonKey
from services.projection.service_layer.identity_model import (
    CannotLearn,
    NoRegistration,
    PairExplained,
    explain_pair,
    learn_matching_model,
)
from services.runtime.database import create_pool
from services.runtime.matching_config import matching_file_text

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
SCHEMA = "projection"


def add_identity(commands: Commands) -> argparse.ArgumentParser:
    """Add the `identity` command and its actions; return its parser."""
    command = commands.add_parser(
        "identity",
        help="identity matching: learn the place's model, or explain a pair's score",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    learn = actions.add_parser(
        "train", help="learn the matching model from the place's registrations (no labels)"
    )
    learn.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the matching file here (default: print it)",
    )
    learn.add_argument(
        "--random-pairs",
        type=_positive,
        default=RANDOM_PAIRS,
        metavar="N",
        help=f"random pairs compared to learn u (default: {RANDOM_PAIRS:,})",
    )
    explain = actions.add_parser("explain", help="how two records compare, field by field")
    explain.add_argument("a", type=_record_key, metavar="ORG:PERSON_ID")
    explain.add_argument("b", type=_record_key, metavar="ORG:PERSON_ID")
    explain.add_argument("--json", action="store_true", help="print JSON")
    return command


def train_command(
    database_url: str, matching: MatchingConfig, *, output: Path | None, random_pairs: int
) -> int:
    """Learn the model and write the matching file; return an exit code (1: too few records)."""
    try:
        trained = asyncio.run(_learn(database_url, random_pairs))
    except CannotLearn as error:
        print(f"caseweave identity train: {error}; the model in use stays", file=sys.stderr)
        return 1
    learnt = matching.model_copy(update={"model": trained.model, "default": trained.thresholds})
    text = matching_file_text(learnt, heading=_heading(trained, matching))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    _summary(trained, output, places=bool(matching.places))
    return 0


async def _learn(database_url: str, random_pairs: int) -> TrainedModel:
    trained_at = datetime.now(UTC)
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, SCHEMA)
        return await learn_matching_model(
            postgres_units(pool, SCHEMA), version=f"trained-{trained_at:%Y-%m-%dT%H%M%SZ}",
            trained_at=trained_at, random_pairs=random_pairs, progress=_say,
        )  # fmt: skip
    finally:
        await pool.close()


def explain_command(
    database_url: str, matching: MatchingConfig, a: PersonKey, b: PersonKey, *, as_json: bool
) -> int:
    """Print how two records compare; return an exit code (1: a record has no registration)."""
    try:
        explained = asyncio.run(_explain(database_url, matching, a, b))
    except NoRegistration as unknown:
        print(f"caseweave identity explain: {unknown}", file=sys.stderr)
        return 1
    document = _explained(explained, matching)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        _print_explained(document)
    return 0


async def _explain(
    database_url: str, matching: MatchingConfig, a: PersonKey, b: PersonKey
) -> PairExplained:
    pool = await create_pool(database_url, max_size=2)
    try:
        await prepare_read_model(pool, SCHEMA)
        return await explain_pair(postgres_units(pool, SCHEMA), a, b, matching)
    finally:
        await pool.close()


def _explained(explained: PairExplained, matching: MatchingConfig) -> dict[str, Any]:
    model = matching.model
    fields = []
    for evidence in explained.match.evidence:
        level = {str(k): v for k, v in model.of(evidence.field).items()}.get(evidence.agreement)
        m, u = (None, None) if level is None else (level.m, level.u)
        named = getattr(explained.a, evidence.field)
        name = (
            model.name_frequency(evidence.field, named) if evidence.agreement == "exact" else None
        )
        if name is not None and m is not None:
            u = round(m / 2**evidence.weight, 8)  # the name's own chance agreement
        # weighing less than its m and u say: no more than an exact agreement (on the names)
        capped = level is not None and name is None and evidence.weight < level.weight
        fields.append({
            "field": evidence.field, "level": evidence.agreement, "weight": evidence.weight,
            "m": m, "u": u, "name": name, "capped": capped,
        })  # fmt: skip
    return {
        "model": model.version,
        "fields": fields,
        "score": explained.match.total,
        "link": explained.thresholds.link,
        "review": explained.thresholds.review,
        "decision": explained.decision,
        "twins_rule": not explained.match.may_link,
        "shared_blocking_keys": explained.shared_keys,
    }


def _print_explained(document: dict[str, Any]) -> None:
    print(f"model {document['model']}")
    print(f"{'field':<15} {'level':<18} {'m':>8} {'u':>10} {'weight':>7}")
    for row in document["fields"]:
        m = "-" if row["m"] is None else f"{row['m']:.4f}"
        u = "-" if row["u"] is None else f"{row['u']:.6f}"
        level = row["level"] if row["name"] is None else f"{row['level']} ({row['name']} name)"
        level += " (capped)" if row["capped"] else ""
        print(f"{row['field']:<15} {level:<18} {m:>8} {u:>10} {row['weight']:>7.2f}")
    print(f"score {document['score']:.2f}: link at {document['link']}, review at "
          f"{document['review']} -> {document['decision']}")  # fmt: skip
    if document["twins_rule"]:
        print("the twins rule holds it back from linking by itself: given names differ")
    shared = document["shared_blocking_keys"]
    print("blocking keys shared: " + (", ".join(shared) if shared else "none (never compared)"))


def _heading(trained: TrainedModel, matching: MatchingConfig) -> str:
    training = trained.model.training
    assert training is not None
    lines = [
        "Identity matching, learnt by `caseweave identity train` from this place's",
        f"{training.records:,} registrations on {training.trained_at:%Y-%m-%d %H:%M} UTC;",
        "no true links, no stewards' decisions. Point CASEWEAVE_MATCHING_FILE here, restart,",
        "then `caseweave replay projection` to score every stored pair again.",
    ]
    if matching.places:
        lines.append("The [places.*] thresholds are the earlier file's: check them against this")
        lines.append("model's [default] ones (its scores are on another scale).")
    return "\n".join(lines)


def _summary(trained: TrainedModel, output: Path | None, *, places: bool) -> None:
    training = trained.model.training
    assert training is not None
    _say(
        f"learnt {trained.model.version} from {training.records:,} records: "
        f"{training.candidate_pairs:,} candidate pairs, EM {trained.iterations} iterations "
        f"over {', '.join(trained.sessions)}; about {training.match_share:.2e} of all pairs "
        f"are one person -> link at {trained.thresholds.link}, review at "
        f"{trained.thresholds.review}"
    )
    if output is not None:
        _say(f"wrote {output}: set CASEWEAVE_MATCHING_FILE={output}, restart, then "
             "`caseweave replay projection`")  # fmt: skip
    if places:
        _say("the per-place thresholds were carried over unchanged: check them")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _record_key(text: str) -> PersonKey:
    org, sep, person_id = text.partition(":")
    if not sep or not org or not person_id:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ORG:PERSON_ID")
    return (org, person_id)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
