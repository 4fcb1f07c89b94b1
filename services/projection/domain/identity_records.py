"""What identity resolution works with: records' registrations, scored pairs, and what
re-linking the records connected to a change reads (`Component`). Values, no I/O: the
match store keeps them in PostgreSQL, the unit-test fake in memory.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.identity_matching.matching import FieldEvidence, PersonRecord, link_barred
from services.projection.domain.linkage import HumanDecision, PersonKey

_PAIR_IDS = uuid.UUID("6f0c3a52-5d1e-4c47-9f57-3c8e2a0b9d11")  # namespace of review pair ids
_PAIR_ID_CACHE = 65_536  # pairs named lately: a re-linking names each pair it touches thrice


@functools.lru_cache(maxsize=_PAIR_ID_CACHE)
def pair_id_of(a: PersonKey, b: PersonKey) -> UUID:
    """Return the stable id of an unordered pair of records (what a reviewer acts on).

    Remembered for the pairs named lately: a UUID of a SHA-1 is dear, and identity
    resolution names the same pairs in batch after batch."""
    first, second = sorted((a, b))
    return uuid.uuid5(_PAIR_IDS, f"{first[0]}:{first[1]}|{second[0]}:{second[1]}")


@dataclass(frozen=True)
class Registration:
    """A record's latest registration, as identity resolution uses it."""

    record: PersonRecord
    event_id: UUID
    occurred_at: datetime

    @property
    def key(self) -> PersonKey:
        """Return the record's key."""
        return (self.record.org, self.record.person_id)


@dataclass(frozen=True)
class StoredPair:
    """A scored pair of records (a before b), its evidence, and whether it awaits review."""

    a: PersonKey
    b: PersonKey
    score: float
    evidence: tuple[FieldEvidence, ...]
    in_review: bool = False
    barred: bool = False  # said without the evidence: the twins rule keeps it from linking

    @property
    def may_link(self) -> bool:
        """Whether the pair may link automatically at any score (`link_barred`)."""
        return not (self.barred or link_barred(self.evidence))

    @property
    def pair_id(self) -> UUID:
        """Return the pair's stable id."""
        return pair_id_of(self.a, self.b)


@dataclass(frozen=True)
class Component:
    """What re-linking the records connected to a change reads (`MatchStore.component`)."""

    held: dict[PersonKey, Registration]  # the connected records that have a registration
    links: dict[PersonKey, UUID]  # the citizen each of those is linked to, if any
    pairs: list[StoredPair]  # the scored pairs touching `held`, their evidence left out
    outside: dict[PersonKey, Registration]  # those pairs' other records' registrations
    # the decided pairs among `held`, each with its steward's organisation, in the order
    # decided (at one instant, a keep-apart last; then in the order recorded)
    decisions: list[tuple[HumanDecision, str]]
