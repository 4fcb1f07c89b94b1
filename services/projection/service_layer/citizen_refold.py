"""Refold one citizen: their view folded afresh from the events of the records linked to them.

What `caseweave replay citizen ID` does after a bad event was corrected, say, without a
rebuild and without touching anyone else. Links stay as they are (the re-linking lock is
held shared, as a batch that only folds holds it), and the citizen is locked as a batch
locks them, so a batch folding into the same view waits or goes first.
"""

from uuid import UUID

from services.projection.domain.fold import BatchFold, fold
from services.projection.service_layer.log_projection import refolded_views
from services.projection.service_layer.unit_of_work import UnitOfWork


async def refold_citizen(
    uow: UnitOfWork, citizen_id: UUID, *, fold_batch: BatchFold = fold
) -> int | None:
    """Fold the citizen's view afresh; return how many records it was folded from (None,
    changing nothing, when no record is linked to such a citizen)."""
    async with uow:
        await uow.hold_live()
        await uow.hold_links_still()
        records = await uow.read_model.records_of(citizen_id)
        if not records:
            return None
        await uow.read_model.lock_citizens([citizen_id])
        views = await refolded_views(uow, {citizen_id}, fold_batch)
        await uow.read_model.save_views(list(views.values()))
        await uow.commit()
    return len(records)
