"""`caseweave replay projection`: rebuild the single view from every organisation's stream.

The streams are the organisations' PostgreSQL logs in embedded mode, their topics in Kafka mode.
"""

import sys
import time

from services.projection.matching_config import MatchingConfigInvalid, load_matching_config
from services.runtime.database import create_pool
from services.runtime.dev_secrets import citizen_id_secret
from services.runtime.process_tuning import collect_garbage_less_often
from services.runtime.settings import Settings
from services.service_runner import projection_sources


async def replay_projection(settings: Settings, database_url: str) -> int:
    """Drop and rebuild the projection's read model, showing progress; return an exit code."""
    from services.projection.bootstrap import rebuild_projection  # noqa: PLC0415 - heavy
    from services.projection.kafka_replay import (  # noqa: PLC0415 - heavy
        rebuild_projection_from_topics,
    )

    collect_garbage_less_often()
    started = time.perf_counter()

    def progress(events: int) -> None:
        rate = events / max(time.perf_counter() - started, 1e-9)
        print(f"\rreplayed {events:,} events ({rate:,.0f}/s)", end="", file=sys.stderr)

    kafka = settings.kafka_transport_servers()
    try:
        matching = load_matching_config(settings.matching_file)
    except MatchingConfigInvalid as error:
        print(f"caseweave replay projection: {error}", file=sys.stderr)
        return 1
    pool = await create_pool(database_url, max_size=4)
    try:
        if kafka is not None:
            total = await rebuild_projection_from_topics(
                pool=pool,
                bootstrap_servers=kafka,
                id_secret=citizen_id_secret(settings),
                on_progress=progress,
                matching=matching,
            )
        else:
            total = await rebuild_projection(
                pool=pool,
                sources=projection_sources(),
                id_secret=citizen_id_secret(settings),
                on_progress=progress,
                matching=matching,
            )
    finally:
        await pool.close()
    elapsed = time.perf_counter() - started
    print(f"\rreplayed {total:,} events in {elapsed:.1f}s; the single view is rebuilt")
    return 0
