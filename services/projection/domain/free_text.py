"""Free text takes the category of what it describes.

A case's reason and outcome, a flag's note and a referral's reasons are written in the words
of the writer's own work: a mental health case's reason ("psychosis relapse after
bereavement") is clinical, whatever the category of the event that carries it
(`case.involvement`, `safeguarding.risk`, `referral`, shared widely so that colleagues know
who is involved and how to reach them). So each such text shows only to a viewer who may
also see the category of its writer's own work (`WORK_CATEGORY`), and a referral's reasons
always to the two organisations it is between.

Pure: the sharing domain and the timeline route ask these questions.
"""

from collections.abc import Callable, Mapping
from typing import Any

from events.envelope import OrgId
from events.organisations import Sector

WORK_CATEGORY: Mapping[Sector, str] = {
    "housing": "housing.homelessness",
    "mental_health": "health.clinical",
    "voluntary": "voluntary.support",
}
"""The category of each sector's own casework: what its organisations' free text describes."""

_STRICTEST = "health.clinical"  # an organisation of no known sector: its text is clinical

FREE_TEXT_FIELDS: Mapping[str, frozenset[str]] = {
    "case.opened": frozenset({"reason"}),
    "case.closed": frozenset({"outcome"}),
    "flag.raised": frozenset({"note"}),
    "flag.lifted": frozenset({"note"}),
    "referral.made": frozenset({"reason"}),
    "referral.received": frozenset({"reason"}),
    "referral.declined": frozenset({"reason"}),
    "referral.answered": frozenset({"reason"}),
    "referral.withdrawn": frozenset({"reason"}),
    "event.entered_in_error": frozenset({"reason"}),
}
"""Event types of the shared vocabulary whose free text describes the writer's own work."""


def work_category(sector: Sector | None) -> str:
    """Return the category of the free text of an organisation of `sector` (None: not an
    organisation of the place)."""
    return _STRICTEST if sector is None else WORK_CATEGORY[sector]


def text_writers(
    event_type: str, org: OrgId, data: Mapping[str, Any], senders: Mapping[str, str]
) -> frozenset[str]:
    """Return whose words an event's free text is: the receiver's copy of a referral carries
    the sender's reason, the sender's record of an answer the receiver's reason, and a case
    opened by accepting a referral the sender's reason too (`senders`: each known
    referral's sender, by referral id; a referral not known is nobody's: its text is
    hidden from all but the recorder)."""
    if event_type == "referral.received":
        return frozenset({str(data.get("from_org", org))})
    if event_type == "referral.answered":  # the sender's copy of the receiver's reason
        return frozenset({str(data.get("by_org", _UNKNOWN))})
    referral = data.get("referral_id")
    if event_type == "case.opened" and referral is not None:
        return frozenset({org, senders.get(str(referral), _UNKNOWN)})
    return frozenset({org})


_UNKNOWN = "(unknown sender)"


def without_hidden_text(
    event_type: str,
    org: OrgId,
    data: Mapping[str, Any],
    *,
    may_read: Callable[[str], bool],
    party: bool,
    senders: Mapping[str, str],
) -> dict[str, Any]:
    """Return the event's data without the free text the viewer may not read.

    `may_read(writer)`: the viewer may see `writer`'s own work category; `party`: the viewer's
    organisation is one of the event's two sides (a referral's), and reads it whole.
    """
    fields = FREE_TEXT_FIELDS.get(event_type, frozenset())
    if party or not fields & data.keys():
        return dict(data)
    if all(may_read(writer) for writer in text_writers(event_type, org, data, senders)):
        return dict(data)
    return {key: value for key, value in data.items() if key not in fields}
