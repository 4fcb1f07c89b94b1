"""Erase a citizen: shred every record's key and purge what was derived from their data.

One transaction: the re-linking lock taken exclusive (so no projection batch reads a key
before the erasure and writes what it read after it), then:
- the citizen's records: each organisation's person ids the projection links to them,
  those any organisation holds under the same NHS numbers (records the projection has not
  linked yet), and each receiver's own copy of their details in a referral about them
  (`referral.held`, keyed by the referral's person id), and each quarantined message from a
  charity's system that names them by the charity's id (`inbound.quarantined`);
- every record's key gets a tombstone; personal values stored before sealing existed are
  erased in place in the organisations' stores and the projection's timeline;
- the projection's rows about them go: the view, links, registrations and blocking keys,
  candidate pairs, the data stewards' decisions naming them; each organisation's lookup
  row (NHS number, local id) too;
- the access log and break-glass grants about them are kept (who read what stays
  answerable) under the erasure's id instead of the citizen id, which an NHS number would
  give again to a later registration of the same person; what callers wrote about them goes:
  each grant's key (which seals its reason) gets a tombstone and the reason is erased in
  place; a correlation id of a shape we no longer take (free text) is replaced, there and in
  the records' events;
- a steward's decision that also names other records stays (it still keeps them apart), its
  reason erased in place;
- the erasure is listed in `caseweave_keys.erasures` with its records and grants, so that
  it can be applied again after a backup of the keys is restored (`caseweave erase --again`).

What stays: the events themselves, everywhere they were copied (stores, Kafka topics,
backups, the projection's timeline), with their personal values sealed under keys that no
longer exist; their non-personal facts (types, times, places, categories) still count, so
statistics over them do not change. A replay cannot rebuild the person: their events open
nowhere, and nothing links them to a citizen. Events published to Kafka before sealing
existed keep their values until the topics' retention removes them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID, uuid4

import structlog

from events.envelope import OrgId
from events.shared import referred_person_id
from services.projection.adapters import erasure_rows
from services.projection.adapters.organisation_records import OrganisationRecords
from services.projection.adapters.postgres_unit_of_work import (
    PostgresUnitOfWork,
    ReadModelStores,
)
from services.projection.domain.fold import fold
from services.projection.service_layer.log_projection import refolded_views
from services.projection.service_layer.unit_of_work import UnitOfWork
from services.runtime.database import Pool
from services.runtime.person_keys import PersonKeys

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Erased:
    """What an erasure did: its id, and how many organisations' records it shredded."""

    erasure_id: UUID
    citizen_id: UUID
    records: int


async def erase_citizen(
    pool: Pool,
    citizen_id: UUID,
    *,
    keys: PersonKeys,
    org_schemas: Mapping[OrgId, str],
    schema: str = "projection",
) -> Erased | None:
    """Erase the citizen (None, changing nothing, when the projection knows no such citizen)."""
    organisations = OrganisationRecords(org_schemas)
    async with PostgresUnitOfWork(pool, ReadModelStores.in_schema(schema, keys=keys)) as uow:
        conn = uow.connection  # the organisations' rows and the keys go in the same commit
        await uow.hold_relinking()
        linked = await uow.read_model.records_of(citizen_id)
        if not linked:
            return None
        numbers = await erasure_rows.nhs_numbers_of(conn, schema, linked)
        records = linked | await organisations.held_under(conn, numbers)
        copies = await _referral_copies(uow, citizen_id) - records
        copies |= await organisations.quarantined_about(conn, records, keys)
        others = set((await uow.read_model.links_of(records)).values()) - {citizen_id}
        await uow.read_model.lock_citizens([citizen_id, *others])
        await keys.erase(conn, records | copies)
        redacted = await organisations.erase_unsealed_values(conn, records)
        await erasure_rows.erase_unsealed_timeline_values(conn, schema, records)
        await organisations.erase_unsafe_correlation_ids(conn, records)
        await erasure_rows.erase_unsafe_timeline_correlation_ids(conn, schema, records)
        await erasure_rows.purge_projection(conn, schema, citizen_id, records)
        await refold_without_them(uow, others)
        await organisations.forget_identifiers(conn, records)
        erased = Erased(uuid4(), citizen_id, len(records))
        grants = await erasure_rows.shred_grant_reasons(conn, schema, citizen_id, keys)
        await keys.record_erasure(conn, erased.erasure_id, sorted(records | grants | copies))
        await erasure_rows.audit_under_erasure_id(conn, schema, citizen_id, erased.erasure_id)
        await uow.commit()
    logger.warning(
        "citizen_erased", erasure_id=str(erased.erasure_id), records=len(records),
        values_erased_in_place=redacted,
    )  # fmt: skip
    return erased


async def _referral_copies(uow: UnitOfWork, citizen_id: UUID) -> set[tuple[str, str]]:
    """Return the receivers' own copies of the person's details in the referrals about them:
    a held referral's (`referral.held`) is keyed by the referral's own person id, whether a
    worker of the receiver chose a record since (then it is shredded already) or not."""
    view = (await uow.read_model.load_views([citizen_id])).get(citizen_id)
    if view is None:
        return set()
    return {(r.to_org, str(referred_person_id(r.referral_id))) for r in view.referrals}


async def refold_without_them(uow: UnitOfWork, citizens: set[UUID]) -> None:
    """Fold again, from their remaining records, the other citizens an erased record was
    linked to (a steward kept it apart); those left with none go (a view of no records)."""
    views = await refolded_views(uow, citizens, fold)
    await uow.read_model.save_views(list(views.values()))
