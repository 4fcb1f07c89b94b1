"""Refold one citizen: their view folded afresh from the events of the records linked to them.

What `caseweave replay citizen ID` does after a bad event was corrected, say, without a
rebuild and without touching anyone else. Links stay as they are (the re-linking lock is
held shared, as a batch that only folds holds it), and the citizen is locked as a batch
locks them, so a batch folding into the same view waits or goes first.
"""

from uuid import UUID

from services.projection.adapters.read_model import ReadModel
from services.projection.adapters.read_model_versions import ReadModelVersions
from services.projection.domain.fold import BatchFold, fold
from services.projection.service_layer.log_projection import (
    DEFAULT_MATCHING,
    identity_resolution,
    refolded_views,
)
from services.runtime.database import Pool, transaction
from services.runtime.person_keys import PersonKeys


async def refold_citizen(
    pool: Pool,
    citizen_id: UUID,
    *,
    schema: str = "projection",
    keys: PersonKeys | None,
    fold_batch: BatchFold = fold,
) -> int | None:
    """Fold the citizen's view afresh; return how many records it was folded from (None,
    changing nothing, when no record is linked to such a citizen)."""
    model = ReadModel(schema)
    identities = identity_resolution(model, id_secret=b"", matching=DEFAULT_MATCHING)
    async with transaction(pool) as conn:
        await ReadModelVersions(schema).hold_live(conn)
        await identities.hold_links(conn, registering=False)
        records = await model.records_of(conn, citizen_id)
        if not records:
            return None
        await model.lock_citizens(conn, [citizen_id])
        views = await refolded_views(conn, model, {citizen_id}, fold_batch, keys)
        await model.save_views(conn, list(views.values()))
    return len(records)
