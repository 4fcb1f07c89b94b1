"""`caseweave replay projection`: rebuild the single view from every organisation's stream.

The streams are the organisations' PostgreSQL logs in embedded mode, their topics in Kafka mode.
"""

import sys
import time

from services.cli.service_runner import projection_sources
from services.projection.adapters.matching_config import MatchingConfigInvalid, load_matching_config
from services.runtime.database import create_pool
from services.runtime.dev_secrets import citizen_id_secret, person_keys
from services.runtime.migrations import apply_migrations
from services.runtime.person_keys import person_keys_migrations
from services.runtime.process_tuning import collect_garbage_less_often
from services.runtime.settings import Settings

LOG_PROGRESS_EVERY_SECONDS = 5.0  # progress lines when stderr is not a terminal


async def replay_projection(settings: Settings, database_url: str) -> int:
    """Drop and rebuild the projection's read model, showing progress; return an exit code."""
    from services.projection.bootstrap import rebuild_projection  # noqa: PLC0415 - heavy
    from services.projection.entrypoints.kafka_replay import (  # noqa: PLC0415 - heavy
        rebuild_projection_from_topics,
    )

    collect_garbage_less_often()
    started = time.perf_counter()

    on_terminal = sys.stderr.isatty()  # one line redrawn; in a log file, a line now and then
    shown = False
    last_line = 0.0

    def progress(events: int) -> None:
        nonlocal shown, last_line
        now = time.perf_counter()
        if not on_terminal and now - last_line < LOG_PROGRESS_EVERY_SECONDS:
            return
        last_line = now
        rate = events / max(now - started, 1e-9)
        line = f"replayed {events:,} events ({rate:,.0f}/s)"
        print(f"\r{line}" if on_terminal else line, end="" if on_terminal else "\n",
              file=sys.stderr, flush=True)  # fmt: skip
        shown = True

    kafka = settings.kafka_transport_servers()
    try:
        matching = load_matching_config(settings.matching_file)
    except MatchingConfigInvalid as error:
        print(f"caseweave replay projection: {error}", file=sys.stderr)
        return 1
    pool = await create_pool(database_url, max_size=4)
    try:
        await apply_migrations(pool, person_keys_migrations())
        async with pool.acquire() as conn:  # another master key would rebuild nobody
            await person_keys(settings).verify(conn)
        if kafka is not None:
            total = await rebuild_projection_from_topics(
                pool=pool,
                bootstrap_servers=kafka,
                id_secret=citizen_id_secret(settings),
                on_progress=progress,
                matching=matching,
                keys=person_keys(settings),
            )
        else:
            total = await rebuild_projection(
                pool=pool,
                sources=projection_sources(),
                id_secret=citizen_id_secret(settings),
                on_progress=progress,
                matching=matching,
                keys=person_keys(settings),
            )
    finally:
        await pool.close()
    elapsed = time.perf_counter() - started
    if shown and on_terminal:
        print(file=sys.stderr)  # end the redrawn line
    print(f"replayed {total:,} events in {elapsed:.1f}s; the single view is rebuilt")
    return 0
