"""The `caseweave` command: run the system, manage keys, replay streams, export schemas."""

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeAlias
from uuid import UUID

from events.envelope import ROLES
from services.cli.csv_import import add_import
from services.cli.dead_letters import add_dead_letters
from services.cli.identity import add_identity
from services.cli.kafka_local import add_local
from services.cli.organisations import add_organisations
from services.cli.place import UnknownOrganisation, organisations_chosen
from services.cli.quarantine import add_quarantine
from services.cli.service_runner import SERVICE_NAMES
from services.cli.sources import add_sources
from services.cli.webhooks import add_webhooks
from services.runtime.logs import configure_logging
from services.runtime.migrations import SchemaAhead
from services.runtime.organisations_file import load_organisations
from services.runtime.person_keys import MasterKeyWrong
from services.runtime.settings import Settings, get_settings
from services.runtime.toml_config import ConfigFileInvalid

Command = Callable[[argparse.Namespace, Settings], int]


def database_url(settings: Settings) -> str:
    """Return the configured PostgreSQL URL, starting the embedded server when none is set."""
    if settings.database_url:
        return settings.database_url
    from services.runtime.embedded_postgres import EmbeddedPostgres  # noqa: PLC0415 - only when embedded

    return EmbeddedPostgres.start(settings.data_dir).url


def _up(args: argparse.Namespace, settings: Settings) -> int:
    """Start everything; `up` watches the embedded PostgreSQL (if it started one) too."""
    from services.cli.launcher import run_everything  # noqa: PLC0415 - only for this command
    from services.runtime.embedded_postgres import EmbeddedPostgres  # noqa: PLC0415 - only here

    configure_logging(level=settings.log_level, fmt=settings.log_format, service="up")
    load_organisations(settings.organisations_file)  # a broken file: said before anything runs
    transport = args.transport or settings.transport
    kafka = None
    if transport == "kafka":
        from services.cli.kafka_up import KafkaNotReady, prepare_kafka  # noqa: PLC0415 - only here

        try:
            kafka = prepare_kafka(settings, port=args.kafka_port)
        except KafkaNotReady as error:
            print(f"caseweave up: {error}", file=sys.stderr)
            return 2
    try:
        if settings.database_url:
            return run_everything(settings, settings.database_url, kafka=kafka)
        embedded = EmbeddedPostgres.start(settings.data_dir)
        return run_everything(settings, embedded.url, embedded=embedded, kafka=kafka)
    finally:
        if kafka is not None:
            kafka.stop()


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from aiokafka.errors import KafkaConnectionError  # noqa: PLC0415 - only here

    from services.cli.service_runner import run_service  # noqa: PLC0415 - only for this command
    from services.organisation.bootstrap import (  # noqa: PLC0415 - only here
        SectorWithoutOrganisations,
    )
    from services.runtime.kafka.publisher import TopicMissing  # noqa: PLC0415 - only here
    from services.runtime.matching_config import (  # noqa: PLC0415 - only here
        MatchingConfigInvalid,
    )

    configure_logging(level=settings.log_level, fmt=settings.log_format, service=args.service)
    settings = settings.model_copy(update={"database_url": database_url(settings)})
    try:
        asyncio.run(run_service(args.service, settings))
    except (
        TopicMissing, MatchingConfigInvalid, MasterKeyWrong, SchemaAhead, SectorWithoutOrganisations
    ) as error:  # fmt: skip
        print(f"caseweave run {args.service}: {error}", file=sys.stderr)
        return 1
    except KafkaConnectionError:
        print(
            f"caseweave run {args.service}: cannot reach Kafka at"
            f" KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}",
            file=sys.stderr,
        )
        return 1
    return 0


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import keys as key_commands  # noqa: PLC0415 - only for this command

    if args.action == "create":
        organisations_chosen(settings, args.org)
    return asyncio.run(key_commands.run(args, database_url(settings)))


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import replay as replay_command  # noqa: PLC0415 - only for this command

    url = database_url(settings)
    if args.read_model == "citizen":
        return asyncio.run(replay_command.replay_citizen(settings, url, args.citizen_id))
    return asyncio.run(replay_command.replay_projection(settings, url, restart=args.restart))


def _migrations(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import migrations as migrations_command  # noqa: PLC0415 - only here

    organisations = load_organisations(settings.organisations_file)
    return asyncio.run(migrations_command.run(database_url(settings), organisations))


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import dead_letters as dead_letters_command  # noqa: PLC0415 - only for this command

    return asyncio.run(dead_letters_command.run(args, settings, database_url))


def _quarantine(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import quarantine as quarantine_command  # noqa: PLC0415 - only for this command

    return asyncio.run(quarantine_command.run(args, settings, database_url))


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import csv_import  # noqa: PLC0415 - only for this command

    return asyncio.run(csv_import.run(args, settings, database_url))


def _webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import webhooks  # noqa: PLC0415 - only for this command

    return asyncio.run(webhooks.run(args, settings, database_url))


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    if args.group == "local":
        from services.cli.kafka_local import run_local  # noqa: PLC0415 - only here

        return run_local(args, settings)
    from services.cli import kafka as kafka_commands  # noqa: PLC0415 - only for this command

    return asyncio.run(kafka_commands.run(args, settings))


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from events.schema_files import export_schemas, find_drift  # noqa: PLC0415 - only here

    schemas_dir, glossary = Path(args.schemas_dir), Path(args.glossary)
    if args.action == "export":
        written = export_schemas(schemas_dir, glossary)
        print(f"wrote {len(written)} files under {schemas_dir} and {glossary}")
        return 0
    drift = find_drift(schemas_dir, glossary)
    for line in drift:
        print(line)
    print("schemas match the event models" if not drift else f"{len(drift)} files drifted")
    return 1 if drift else 0


# argparse names the type of `add_subparsers()` only privately
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseweave",
        description="Event-sourced case coordination across housing, mental health and the "
        "voluntary sector. Configuration comes from CASEWEAVE_* environment variables "
        "(see README); with no CASEWEAVE_DATABASE_URL an embedded PostgreSQL keeps its data "
        "under .caseweave/.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_running, _add_keys, _add_replay, _add_audit, _add_sar, _add_erase, _add_schemas,
        _add_kafka, _add_dead_letters, _add_organisations, _add_sources, _add_quarantine,
        _add_import, _add_webhooks, _add_migrations, _add_identity,
    ):  # fmt: skip
        add(commands)
    return parser


def _add_running(commands: Commands) -> None:
    up = commands.add_parser(
        "up",
        help="start every service and the projection on this machine",
        description="Start the three organisation services and the projection, with an embedded "
        "PostgreSQL unless CASEWEAVE_DATABASE_URL is set; Ctrl-C stops everything. With "
        "--transport kafka (the production shape) events travel through Kafka: the cluster "
        "KAFKA_BOOTSTRAP_SERVERS names, or else a one-node Apache Kafka started here (Java 17+ "
        "and Maven needed; data in CASEWEAVE_DATA_DIR/kafka-1); topics are created first.",
    )
    up.add_argument(
        "--transport", choices=["postgres", "kafka"], default=None,
        help="how events travel: postgres (embedded, the default) or kafka;"
        " default CASEWEAVE_TRANSPORT",
    )  # fmt: skip
    up.add_argument(
        "--kafka-port", type=int, default=9092,
        help="the local Kafka's client port when up starts one (default 9092; its controller"
        " takes the same plus 100)",
    )  # fmt: skip
    up.set_defaults(handler=_up)
    run = commands.add_parser("run", help="run one service in the foreground (what `up` starts)")
    run.add_argument("service", choices=SERVICE_NAMES)
    run.set_defaults(handler=_run)


def _add_keys(commands: Commands) -> None:
    keys = commands.add_parser("keys", help="create, list, rotate and revoke API keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key; prints it once, as the last word")
    create.add_argument(
        "--org", required=True, help="an organisation of the place (CASEWEAVE_ORGANISATIONS_FILE)"
    )
    create.add_argument("--role", required=True, choices=ROLES)
    key_actions.add_parser("list", help="list keys (never their secrets)")
    rotate = key_actions.add_parser(
        "rotate",
        help="issue a replacement for a key (printed once, as the last word); the old key keeps"
        " working for a grace period, then expires",
    )
    rotate.add_argument("key_id")
    rotate.add_argument(
        "--grace-minutes", type=_minutes, default=60, metavar="MINUTES",
        help="how long the old key keeps working (default 60; 0: it stops now)",
    )  # fmt: skip
    revoke = key_actions.add_parser("revoke", help="revoke a key by its id, at once")
    revoke.add_argument("key_id")
    keys.set_defaults(handler=_keys)


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-25T09:00:00+00:00")
    return moment


def _minutes(text: str) -> int:
    minutes = int(text)
    if minutes < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return minutes


def _add_replay(commands: Commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="rebuild the single view (or one citizen's) from the event streams",
        description="Rebuild the single view from every organisation's events without "
        "stopping anything: a new version is built beside the live one, which keeps answering "
        "reads and taking live events, and takes over in one atomic switch once caught up.",
    )
    what = replay.add_subparsers(dest="read_model", required=True, metavar="WHAT")
    projection = what.add_parser(
        "projection",
        help="rebuild the whole single view (blue/green; resumes a stopped rebuild)",
        description="Build a new version of the single view from every organisation's "
        "stream (their logs, or their Kafka topics in Kafka mode) beside the live one, then "
        "switch to it atomically. Reads during it answer from the live version as before; "
        "identity decisions, the access log and break-glass grants carry over untouched. A "
        "rebuild stopped by a crash or Ctrl-C resumes where it stopped when run again. "
        "Progress on stderr: one redrawn line on a terminal, a line every few seconds in a log.",
    )
    projection.add_argument(
        "--restart",
        action="store_true",
        help="start over, dropping what a stopped rebuild built, instead of resuming it",
    )
    citizen = what.add_parser(
        "citizen",
        help="refold one citizen's view from their events, touching nobody else",
        description="Fold one citizen's view afresh from every event of the records linked "
        "to them (after a bad event was corrected, say). Exit 1 if no such citizen.",
    )
    citizen.add_argument("citizen_id", metavar="CITIZEN_ID", help="the citizen's id (a UUID)")
    replay.set_defaults(handler=_replay)


def _add_migrations(commands: Commands) -> None:
    migrations = commands.add_parser(
        "migrations",
        help="the database schema's migrations: which are applied, which this release adds",
        description="Every process applies its tables' pending migrations as it starts; this "
        "only reports. Per schema set: the last migration the database has, the last one this "
        "release knows, and the pending ones. Exit 0 if every set is at this release's.",
    )
    migrations.add_argument("action", choices=["status"])
    migrations.set_defaults(handler=_migrations)


def _add_dead_letters(commands: Commands) -> None:
    add_dead_letters(commands).set_defaults(handler=_dead_letters)


def _add_quarantine(commands: Commands) -> None:
    add_quarantine(commands).set_defaults(handler=_quarantine)


def _add_identity(commands: Commands) -> None:
    add_identity(commands).set_defaults(handler=_identity)


def _identity(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import identity  # noqa: PLC0415 - only for this command
    from services.runtime.matching_config import load_matching_config  # noqa: PLC0415

    matching = load_matching_config(settings.matching_file)  # broken: exit 2, named
    url = database_url(settings)
    if args.action == "train":
        return identity.train_command(
            url, matching, output=args.output, random_pairs=args.random_pairs
        )
    return identity.explain_command(url, matching, args.a, args.b, as_json=args.json)


def _add_organisations(commands: Commands) -> None:
    add_organisations(commands).set_defaults(handler=_organisations)


def _organisations(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import organisations  # noqa: PLC0415 - only for this command

    return organisations.run(args, settings)


def _add_sources(commands: Commands) -> None:
    add_sources(commands).set_defaults(handler=_sources)


def _sources(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import sources  # noqa: PLC0415 - only for this command

    return sources.run(args, settings)


def _add_import(commands: Commands) -> None:
    add_import(commands).set_defaults(handler=_import)


def _add_webhooks(commands: Commands) -> None:
    add_webhooks(commands).set_defaults(handler=_webhooks)


def _operator_name(text: str) -> str:
    from services.projection.adapters.access_log import is_operator_name  # noqa: PLC0415 - only here

    if not is_operator_name(text):
        raise argparse.ArgumentTypeError("letters, digits and ._@- only, 1 to 64 characters")
    return text


def _add_requested_by(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--requested-by", type=_operator_name, default=None, metavar="NAME",
        help="who runs this, for the access log (default: the operating system user)",
    )  # fmt: skip


def _add_audit(commands: Commands) -> None:
    audit = commands.add_parser("audit", help="export the log of who read which citizen's data")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="write the access log to stdout as JSON lines, oldest first"
    )
    export.add_argument(
        "--after", type=int, default=0, metavar="POSITION",
        help="only reads after this position (the last line's `position` of an earlier export)",
    )  # fmt: skip
    alerts = actions.add_parser(
        "alerts",
        help="write the alert events (break-glass grants) to stdout as JSON lines, oldest first",
    )
    alerts.add_argument(
        "--after", type=_aware_time, default=None, metavar="TIME",
        help="only alerts after this time (ISO 8601 with a time zone: an earlier export's last"
        " `occurred_at`)",
    )  # fmt: skip
    for action in (export, alerts):
        _add_requested_by(action)
    audit.set_defaults(handler=_audit)


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.audit import export_access_log, export_alerts  # noqa: PLC0415
    from services.runtime.dev_secrets import person_keys  # noqa: PLC0415 - only here

    url, by = database_url(settings), args.requested_by
    if args.action == "alerts":
        keys = person_keys(settings)
        alerts = asyncio.run(export_alerts(url, after=args.after, keys=keys, requested_by=by))
        print(f"exported {alerts:,} alerts", file=sys.stderr)
        return 0
    written = asyncio.run(export_access_log(url, after=args.after, requested_by=by))
    print(f"exported {written:,} reads", file=sys.stderr)
    return 0


def _add_sar(commands: Commands) -> None:
    sar = commands.add_parser(
        "sar", help="subject access requests: everything held about one person"
    )
    actions = sar.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write one JSON document: the unfiltered single view, the whole timeline, identity"
        " decisions, the access log and break-glass grants of a citizen",
    )
    export.add_argument("--citizen", required=True, type=UUID, metavar="CITIZEN_ID")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")
    _add_requested_by(export)
    sar.set_defaults(handler=_sar)


def _sar(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.sar import export_subject_access  # noqa: PLC0415 - only here
    from services.runtime.dev_secrets import person_keys  # noqa: PLC0415 - only here

    url, by = database_url(settings), args.requested_by
    if args.output is None:
        exported = export_subject_access(
            url, args.citizen, keys=person_keys(settings), requested_by=by
        )
        counts = asyncio.run(exported)
    else:  # personal data: readable by its owner only, even when the file was there before
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        counts = None
        try:
            with open(descriptor, "w", encoding="utf-8") as out:
                exported = export_subject_access(
                    url, args.citizen, out=out, keys=person_keys(settings), requested_by=by
                )
                counts = asyncio.run(exported)
        finally:
            if counts is None:  # nobody, or a failure: no half-written personal data
                args.output.unlink(missing_ok=True)
    if counts is None:
        print(f"no citizen {args.citizen}", file=sys.stderr)
        return 1
    parts = ", ".join(f"{count:,} {part.replace('_', ' ')}" for part, count in counts.items())
    print(f"exported citizen {args.citizen}: {parts}", file=sys.stderr)
    return 0


def _add_erase(commands: Commands) -> None:
    erase = commands.add_parser(
        "erase",
        help="erase a citizen: shred every organisation's key for their records and purge the"
        " single view of them; cannot be undone",
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--citizen", type=UUID, metavar="CITIZEN_ID")
    target.add_argument(
        "--again",
        action="store_true",
        help="shred again the keys of every erasure listed (after restoring a backup of the"
        " keys older than some of them)",
    )
    erase.add_argument("--yes", action="store_true", help="confirm: the erasure cannot be undone")
    erase.set_defaults(handler=_erase)


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("caseweave erase: this cannot be undone; add --yes to erase", file=sys.stderr)
        return 2
    from services.cli.erase import erase  # noqa: PLC0415 - only here

    return asyncio.run(erase(settings, database_url(settings), args.citizen))  # None: --again


def _add_schemas(commands: Commands) -> None:
    schemas = commands.add_parser("schemas", help="JSON Schemas and glossary of the event types")
    schemas.add_argument("action", choices=["export", "check"])
    schemas.add_argument("--schemas-dir", default="schemas")
    schemas.add_argument("--glossary", default="events/GLOSSARY.md")
    schemas.set_defaults(handler=_schemas)


def _add_kafka(commands: Commands) -> None:
    kafka = commands.add_parser(
        "kafka",
        help="run Kafka locally, manage the topics of the kafka transport, see consumer lag",
    )
    kafka_groups = kafka.add_subparsers(dest="group", required=True, metavar="GROUP")
    topics = kafka_groups.add_parser(
        "topics",
        help="create or check Caseweave's topics",
        description="Topics come from KAFKA_BOOTSTRAP_SERVERS and CASEWEAVE_KAFKA_PARTITIONS, "
        "_REPLICATION_FACTOR, _RETENTION_MS and _MIN_INSYNC_REPLICAS (see README).",
    )
    topic_actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    topic_actions.add_parser(
        "create", help="create the missing topics; existing ones are never changed"
    )
    topic_actions.add_parser(
        "check",
        help="report missing, mis-sized, under-replicated or offline topics; exit 1 if any",
    )
    _add_kafka_lag(kafka_groups)
    add_local(kafka_groups)
    kafka.set_defaults(handler=_kafka)


def _add_kafka_lag(kafka_groups: Commands) -> None:
    lag = kafka_groups.add_parser(
        "lag",
        help="how far the projection and the referral inboxes are behind their topics",
        description="Per topic and partition: the end offset, the offset the consumer group "
        "committed in Kafka and the lag (messages still to read), for the projection worker's "
        "group and each referral inbox's, with a total per group. A group that committed "
        "nothing yet has the whole of its topics to read. The cluster is "
        "KAFKA_BOOTSTRAP_SERVERS. Kafka's committed offsets can trail what the consumers have "
        "applied: they save their offsets in PostgreSQL and commit to Kafka afterwards.",
    )
    lag.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the caseweave command line; return its exit code."""
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command != "run":
        configure_logging(level="WARNING", fmt="console")
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except MasterKeyWrong as error:  # a replay, export or erasure with another master key
        print(f"caseweave {args.command}: {error} (CASEWEAVE_MASTER_KEY)", file=sys.stderr)
        return 1
    except SchemaAhead as error:  # this release is older than the database it was pointed at
        print(f"caseweave {args.command}: {error}", file=sys.stderr)
        return 1
    except (UnknownOrganisation, ConfigFileInvalid) as error:  # --org, or a place's file
        print(f"caseweave {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `caseweave keys list | head`: the reader has all it wanted
        if args.command in ("run", "up"):  # a service's own socket, not our output
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1


if __name__ == "__main__":
    sys.exit(main())
