"""`caseweave replay projection|citizen`: rebuild the single view, or one citizen's view.

The streams are the organisations' PostgreSQL logs in embedded mode, their topics in Kafka
mode. The whole view is rebuilt beside the live one and switched to (blue/green); progress
goes to stderr: one redrawn line on a terminal, a line every few seconds in a log.
"""

import sys
import time
import uuid
from collections.abc import Callable

from services.cli.service_runner import projection_sources, projection_topics
from services.identity_matching.matching import MatchingConfig
from services.projection.adapters.read_model_versions import RebuildRunning
from services.projection.service_layer.rebuild import ReplayProgress
from services.runtime.database import Pool, create_pool
from services.runtime.dev_secrets import citizen_id_secret, person_keys
from services.runtime.matching_config import MatchingConfigInvalid, load_matching_config
from services.runtime.migrations import apply_migrations
from services.runtime.person_keys import person_keys_migrations
from services.runtime.process_tuning import collect_garbage_less_often
from services.runtime.settings import Settings

LOG_PROGRESS_EVERY_SECONDS = 5.0  # progress lines when stderr is not a terminal
TERMINAL_REDRAW_SECONDS = 0.2


async def replay_projection(settings: Settings, database_url: str, *, restart: bool) -> int:
    """Rebuild the projection's read model beside the live one, showing progress; return an
    exit code."""
    collect_garbage_less_often()
    started = time.perf_counter()
    show = ProgressLine(on_terminal=sys.stderr.isatty(), started=started)
    kafka = settings.kafka_transport_servers()
    try:
        matching = load_matching_config(settings.matching_file)
    except MatchingConfigInvalid as error:
        print(f"caseweave replay projection: {error}", file=sys.stderr)
        return 1
    # a batch and its log read per organisation's log, and the rebuild's lock
    pool = await create_pool(database_url, max_size=len(projection_sources(settings)) + 2)
    try:
        await apply_migrations(pool, person_keys_migrations())
        async with pool.acquire() as conn:  # another master key would rebuild nobody
            await person_keys(settings).verify(conn)
        total = await _rebuild(settings, pool, kafka, show, matching, restart=restart)
    except RebuildRunning:
        print(
            "caseweave replay projection: another replay of the projection is running;"
            " wait for it (or stop it: run again to resume it)",
            file=sys.stderr,
        )
        return 1
    finally:
        show.end()
        await pool.close()
    elapsed = time.perf_counter() - started
    print(
        f"replayed {total:,} events in {elapsed:.1f}s; the rebuilt single view is live"
        + (" (resumed where a stopped rebuild left off)" if show.resumed else "")
    )
    return 0


async def _rebuild(
    settings: Settings,
    pool: Pool,
    kafka: str | None,
    show: "ProgressLine",
    matching: MatchingConfig,
    *,
    restart: bool,
) -> int:
    """Rebuild from the topics in Kafka mode, else from the organisations' logs."""
    from services.projection.bootstrap import rebuild_projection  # noqa: PLC0415 - heavy
    from services.projection.entrypoints.kafka_replay import (  # noqa: PLC0415 - heavy
        rebuild_projection_from_topics,
    )

    if kafka is not None:
        return await rebuild_projection_from_topics(
            pool=pool, bootstrap_servers=kafka, id_secret=citizen_id_secret(settings),
            topic_orgs=projection_topics(settings), on_progress=show, matching=matching,
            keys=person_keys(settings), restart=restart,
        )  # fmt: skip
    return await rebuild_projection(
        pool=pool, sources=projection_sources(settings), id_secret=citizen_id_secret(settings),
        on_progress=show, matching=matching, keys=person_keys(settings), restart=restart,
    )  # fmt: skip


async def replay_citizen(settings: Settings, database_url: str, citizen_id: str) -> int:
    """Refold one citizen's view from their events; return an exit code."""
    from services.projection.adapters.postgres_unit_of_work import (  # noqa: PLC0415 - heavy
        PostgresUnitOfWork,
        ReadModelStores,
    )
    from services.projection.service_layer.citizen_refold import (  # noqa: PLC0415 - heavy
        refold_citizen,
    )

    try:
        citizen = uuid.UUID(citizen_id)
    except ValueError:
        print(
            f"caseweave replay citizen: CITIZEN_ID: {citizen_id!r} is not a UUID", file=sys.stderr
        )
        return 2
    pool = await create_pool(database_url, max_size=2)
    try:
        await apply_migrations(pool, person_keys_migrations())
        keys = person_keys(settings)
        async with pool.acquire() as conn:  # another master key would fold them as erased
            await keys.verify(conn)
        stores = ReadModelStores.in_schema("projection", keys=keys)
        records = await refold_citizen(PostgresUnitOfWork(pool, stores), citizen)
    finally:
        await pool.close()
    if records is None:
        print(f"caseweave replay citizen: no citizen {citizen}", file=sys.stderr)
        return 1
    print(f"refolded citizen {citizen} from the events of {records} linked record(s)")
    return 0


class ProgressLine:
    """Shows a replay's progress: events done, rate and time left."""

    def __init__(
        self,
        *,
        on_terminal: bool,
        started: float,
        clock: Callable[[], float] = time.perf_counter,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self._on_terminal = on_terminal
        self._started = started
        self._clock = clock
        self._write = write or _to_stderr
        self._last = float("-inf")
        self._shown = False
        self.resumed = False

    def __call__(self, progress: ReplayProgress) -> None:
        """Show `progress` (at most every few seconds in a log, five times a second on a
        terminal; the last line of a run is always shown)."""
        if progress.resumed and not self.resumed:
            self.resumed = True
            self._write("resuming a stopped rebuild (--restart starts over)\n")
        now = self._clock()
        every = TERMINAL_REDRAW_SECONDS if self._on_terminal else LOG_PROGRESS_EVERY_SECONDS
        if now - self._last < every and progress.done < progress.expected:
            return
        self._last = now
        line = progress_line(progress, now - self._started)
        self._write(f"\r{line}\033[K" if self._on_terminal else f"{line}\n")
        self._shown = True

    def end(self) -> None:
        """End the redrawn line, if one was drawn."""
        if self._shown and self._on_terminal:
            self._write("\n")


def progress_line(progress: ReplayProgress, seconds: float) -> str:
    """Return the line that tells how far a replay is: done of expected, rate, time left."""
    rate = progress.done / seconds if seconds > 0 else 0.0
    left = (progress.expected - progress.done) / rate if rate > 0 else None
    share = progress.done / progress.expected if progress.expected else 1.0
    eta = "time left unknown" if left is None else f"{_duration(left)} left"
    return (
        f"replayed {progress.done:,} of {progress.expected:,} events ({share:.0%}),"
        f" {rate:,.0f}/s, {eta}"
    )


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _to_stderr(text: str) -> None:
    print(text, end="", file=sys.stderr, flush=True)
