"""Flags and risks raised now: explicit flags, and flags that events imply.

A flag is kept per (organisation, flag): only the organisation that raised it lifts it, and
its own events arrive in order. Raising a flag that is already raised keeps the first
raising (the flag has been up since then).

Flags derived from events (`DERIVED_FLAGS`):

- `housing.tenancy_at_risk` raises `tenancy_at_risk`;
- `housing.eviction_notice_served` raises `eviction_notice_served`;
- `housing.accommodation_secured` lifts `tenancy_at_risk` and `eviction_notice_served`;
- `mental_health.crisis_episode_started` raises `in_crisis`, `..._ended` lifts it;
- `mental_health.crisis_plan_agreed` raises `crisis_plan_in_place`, `mental_health.discharged`
  lifts it.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from events.envelope import Envelope, OrgId
from events.registry import EventPayload
from events.shared import CaseEvent, FlagLifted, FlagRaised
from services.projection.domain.view import Flag

Flags = dict[tuple[OrgId, str], Flag]  # a fold's working copy: (organisation, flag)


@dataclass(frozen=True)
class FlagEffect:
    """The flags an event raises and lifts for the organisation that recorded it."""

    raises: tuple[str, ...] = ()
    lifts: tuple[str, ...] = ()


NO_EFFECT = FlagEffect()
DERIVED_FLAGS: Mapping[str, FlagEffect] = {
    "housing.tenancy_at_risk": FlagEffect(raises=("tenancy_at_risk",)),
    "housing.eviction_notice_served": FlagEffect(raises=("eviction_notice_served",)),
    "housing.accommodation_secured": FlagEffect(
        lifts=("tenancy_at_risk", "eviction_notice_served")
    ),
    "mental_health.crisis_episode_started": FlagEffect(raises=("in_crisis",)),
    "mental_health.crisis_episode_ended": FlagEffect(lifts=("in_crisis",)),
    "mental_health.crisis_plan_agreed": FlagEffect(raises=("crisis_plan_in_place",)),
    "mental_health.discharged": FlagEffect(lifts=("crisis_plan_in_place",)),
}


def flag_effect(payload: EventPayload) -> FlagEffect:
    """Return the flags an event raises and lifts: explicitly, or by `DERIVED_FLAGS`."""
    if isinstance(payload, FlagRaised):
        return FlagEffect(raises=(payload.flag,))
    if isinstance(payload, FlagLifted):
        return FlagEffect(lifts=(payload.flag,))
    return DERIVED_FLAGS.get(payload.event_type, NO_EFFECT)


def concerns_flags(kind: type[EventPayload]) -> bool:
    """Return whether events of this payload type can raise or lift flags."""
    return issubclass(kind, (FlagRaised, FlagLifted)) or kind.event_type in DERIVED_FLAGS


def apply_to_flags(flags: Flags, envelope: Envelope, payload: EventPayload) -> bool:
    """Apply one event to the raised flags; return whether it may have changed them."""
    effect = flag_effect(payload)
    if effect is NO_EFFECT:
        return False
    for name in effect.lifts:
        flags.pop((envelope.org, name), None)
    for name in effect.raises:
        if (envelope.org, name) not in flags:
            flags[(envelope.org, name)] = _raised(name, envelope, payload)
    return True


def flags_of(flags: Flags) -> tuple[Flag, ...]:
    """Return the view's flags, in (organisation, flag) order."""
    return tuple(flags[key] for key in sorted(flags))


def _raised(name: str, envelope: Envelope, payload: EventPayload) -> Flag:
    return Flag(
        org=envelope.org,
        flag=name,
        raised_at=envelope.occurred_at,
        raised_by=envelope.actor,
        raised_by_event=payload.event_type,
        case_id=payload.case_id if isinstance(payload, CaseEvent) else None,
        note=payload.note if isinstance(payload, FlagRaised) else None,
    )
