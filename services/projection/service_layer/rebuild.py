"""Rebuild the single view beside the live one, and switch to it once it has caught up.

`caseweave replay projection` builds a new version of the read model while the live one
keeps serving reads and live events (`adapters/read_model_versions.py`), one rebuild of a
read model at a time (`rebuilding` holds its lock for the whole run):
1. `start_or_resume`: under the live version's re-linking lock (so no steward's decision
   or erasure is half done), note the last decision and the erasures so far, and make an
   empty next version. A rebuild already under way is resumed from its own checkpoints
   instead, unless asked to restart.
2. The caller folds every organisation's stream into the next version with the worker's
   own code (logs in embedded mode, topics in Kafka mode).
3. `switch_to_next`, in one transaction: wait for the live version's writers and keep them
   out; re-resolve in the next version the records the stewards decided about since it
   started, and purge the records erased since; copy operators' dispositions; rename. The
   worker's next batch writes into the new version from its checkpoints, at most a few
   events behind, so nothing that arrived meanwhile is lost. Then the old version goes.
Identity decisions, the access log and break-glass grants live beside the versions and are
not touched.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import structlog

from services.identity_matching.matching import MatchingConfig
from services.projection.adapters import erasure_rows
from services.projection.adapters.decision_store import decisions_schema_of
from services.projection.adapters.postgres_unit_of_work import (
    PostgresUnitOfWork,
    ReadModelStores,
)
from services.projection.adapters.read_model_versions import ReadModelVersions, RebuildState
from services.projection.domain.fold import BatchFold, fold
from services.projection.domain.linkage import PersonKey
from services.projection.service_layer.erasure import refold_without_them
from services.projection.service_layer.identity_resolution import IdentityResolution
from services.projection.service_layer.log_projection import DEFAULT_MATCHING, refolded_views
from services.projection.service_layer.unit_of_work import UnitOfWork
from services.runtime.database import Connection, Pool, transaction
from services.runtime.person_keys import PersonKeys

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReplayProgress:
    """How far a rebuild has got: events folded by this run, of those expected when it began
    (more arrive while it runs), and whether it resumed one that had stopped."""

    done: int
    expected: int
    resumed: bool = False


@dataclass(frozen=True)
class Rebuilding:
    """A rebuild under way: the versions, where it started, and whether it was resumed."""

    versions: ReadModelVersions
    state: RebuildState
    resumed: bool

    @property
    def decisions_schema(self) -> str:
        """Return the schema of the stewards' decisions both versions resolve identity by."""
        return decisions_schema_of(self.versions.live)


@asynccontextmanager
async def rebuilding(
    pool: Pool, schema: str, *, keys: PersonKeys | None, restart: bool = False
) -> AsyncIterator[Rebuilding]:
    """Resume or start the rebuild of `schema` (`start_or_resume`) and hold it as this
    process's while the block runs (RebuildRunning when another process is rebuilding it):
    the caller folds the streams into it and switches in the block."""
    async with ReadModelVersions(schema).rebuilding_alone(pool):
        yield await start_or_resume(pool, schema, keys=keys, restart=restart)


async def start_or_resume(
    pool: Pool, schema: str, *, keys: PersonKeys | None, restart: bool = False
) -> Rebuilding:
    """Resume the rebuild of the read model `schema` under way, or start one (`restart`:
    always start afresh, dropping what an earlier one built; so does a release whose read
    model tables differ from those the stopped rebuild was building)."""
    versions = ReadModelVersions(schema)
    async with PostgresUnitOfWork(pool, ReadModelStores.in_schema(schema, keys=keys)) as uow:
        conn = uow.connection
        await versions.drop_retired(conn)  # left by a switch that stopped before dropping it
        state = None if restart else await versions.rebuild_state(conn)
        if state is not None and state.tables_version != versions.tables_version():
            logger.warning(
                "projection_rebuild_restarted", schema=schema,
                reason="the read model's tables changed since the stopped rebuild began",
            )  # fmt: skip
            state = None
        if state is not None:
            logger.info(
                "projection_rebuild_resumed", schema=schema, started_at=str(state.started_at)
            )
            await uow.commit()
            return Rebuilding(versions, state, resumed=True)
        await uow.hold_relinking()
        state = await versions.start_next(
            conn,
            decisions_after=await uow.decisions.last_position(),
            erasures_before=(await keys.erasures(conn)).keys() if keys is not None else (),
        )
        await uow.commit()
    logger.info("projection_rebuild_started", schema=schema, version=versions.next)
    return Rebuilding(versions, state, resumed=False)


async def switch_to_next(
    pool: Pool,
    rebuild: Rebuilding,
    *,
    id_secret: bytes,
    keys: PersonKeys | None,
    matching: MatchingConfig = DEFAULT_MATCHING,
    fold_batch: BatchFold = fold,
) -> None:
    """Make the rebuilt version the live one, with what happened meanwhile; drop the old."""
    versions = rebuild.versions
    built = ReadModelStores.in_schema(
        versions.next, keys=keys, decisions_schema=rebuild.decisions_schema
    )
    identities = IdentityResolution(id_secret=id_secret, matching=matching)
    async with PostgresUnitOfWork(pool, built) as uow:
        conn = uow.connection
        await versions.hold_for_switch(conn)
        live = ReadModelStores.in_schema(versions.live, keys=keys)
        await PostgresUnitOfWork.joining(conn, live).hold_relinking()
        await uow.hold_relinking()
        decided = await uow.decisions.records_named_after(rebuild.state.decisions_after)
        await _relink(uow, identities, decided, fold_batch=fold_batch)
        erased = await _erased_since(conn, keys, rebuild.state.erasures_before)
        await _purge(uow, erased)
        await versions.switch(conn)
        await uow.commit()
    logger.info(
        "projection_version_switched", schema=versions.live, decided=len(decided),
        erased=len(erased),
    )  # fmt: skip
    async with transaction(pool) as conn:
        await versions.drop_retired(conn)


async def _relink(
    uow: UnitOfWork,
    identities: IdentityResolution,
    records: set[PersonKey],
    *,
    fold_batch: BatchFold,
) -> None:
    """Re-resolve these records in the rebuilt version by every decision; refold who moved."""
    if not records:
        return
    refold = (await identities.relink(uow, records)).refold()
    if refold:
        await uow.read_model.lock_citizens(refold)
        views = await refolded_views(uow, refold, fold_batch)
        await uow.read_model.save_views(list(views.values()))


async def _erased_since(
    conn: Connection, keys: PersonKeys | None, before: frozenset[UUID]
) -> set[PersonKey]:
    """Return the records of the erasures done since the rebuild started."""
    if keys is None:
        return set()
    erasures = await keys.erasures(conn)
    return {
        record
        for erasure, records in erasures.items()
        if erasure not in before
        for record in records
    }


async def _purge(uow: PostgresUnitOfWork, records: set[PersonKey]) -> None:
    """Remove from the rebuilt version what it built about erased records before they were
    erased."""
    if not records or uow.stores.keys is None:
        return
    conn, schema = uow.connection, uow.stores.schema
    citizens = set((await uow.read_model.links_of(records)).values())
    await uow.read_model.lock_citizens(citizens)
    await erasure_rows.erase_unsealed_timeline_values(conn, schema, records)
    await erasure_rows.erase_unsafe_timeline_correlation_ids(conn, schema, records)
    await erasure_rows.purge_identity_rows(conn, schema, records)
    await refold_without_them(uow, citizens)
