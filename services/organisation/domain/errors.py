"""What can go wrong with a command, in the domain's words (entrypoints map these to HTTP)."""

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

Problem = dict[str, Any]


def problem(loc: Sequence[str | int], rule: str, message: str) -> Problem:
    """Return one broken rule in pydantic's error shape: where in the command, which rule, why."""
    return {"loc": tuple(loc), "type": rule, "msg": message}


class DomainError(Exception):
    """A command broke one of the organisation's rules."""

    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str, *, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotFound(DomainError):
    """The command names something this organisation does not hold."""

    code = "not_found"


class Conflict(DomainError):
    """The command is well formed but the current state forbids it."""

    code = "conflict"


class Invalid(DomainError):
    """The command breaks a rule about its own content."""

    code = "validation_failed"


class PersonNotFound(NotFound):
    """No person with this id is registered with the organisation."""

    def __init__(self, person_id: UUID) -> None:
        super().__init__(f"person {person_id} not found")


class CaseNotFound(NotFound):
    """No case with this id exists in the organisation."""

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"case {case_id} not found")


class ReferralNotFound(NotFound):
    """The organisation neither made nor received a referral with this id."""

    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"referral {referral_id} not found")


class ReferralNotReceived(NotFound):
    """Only the organisation that received a referral can decide it; this one made it."""

    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"referral {referral_id} not found in this organisation's inbox")


class PersonAlreadyRegistered(Conflict):
    """Another person in the organisation already has this NHS number or local id."""

    code = "already_registered"

    def __init__(self, existing_person_id: UUID, *, field: str) -> None:
        message = f"a person with this {field} is already registered as {existing_person_id}"
        super().__init__(message, problems=[problem([field], "already_registered", message)])
        self.existing_person_id = existing_person_id


class CaseAlreadyClosed(Conflict):
    """Nothing more can be recorded on a closed case."""

    code = "case_closed"

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"case {case_id} is closed")


class EventNotOnCase(NotFound):
    """The case has no event with this id."""

    def __init__(self, case_id: UUID, event_id: UUID) -> None:
        super().__init__(f"case {case_id} has no event {event_id}")


class NotRetractable(Conflict):
    """The event cannot be retracted: it opened the case (close it instead), it is itself a
    retraction, or it was retracted already."""

    code = "not_retractable"


class ReferralWithdrawn(Conflict):
    """The sender withdrew the referral before this organisation decided it."""

    code = "referral_withdrawn"

    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"referral {referral_id} was withdrawn by the organisation that made it")


class NotTheSender(Conflict):
    """Only the organisation that made a referral withdraws it; this one received it."""

    code = "not_the_sender"

    def __init__(self, referral_id: UUID) -> None:
        super().__init__(
            f"referral {referral_id} was made by another organisation: decline it instead"
        )


class ReferralAlreadyDecided(Conflict):
    """A referral is accepted or declined once."""

    code = "referral_already_decided"

    def __init__(self, referral_id: UUID, status: str) -> None:
        super().__init__(f"referral {referral_id} is already {status}")


class PersonNotChosen(Conflict):
    """The referral is held: a worker must first say which record it is about."""

    code = "person_not_chosen"

    def __init__(self, referral_id: UUID) -> None:
        message = (
            f"referral {referral_id} is held until you say which of your records is its person:"
            f" POST /v1/referrals/{referral_id}/person"
        )
        super().__init__(message)


class PersonAlreadyChosen(Conflict):
    """The referral's person is known already: only a held referral's can be chosen."""

    code = "person_already_chosen"

    def __init__(self, referral_id: UUID, status: str) -> None:
        message = f"referral {referral_id} is {status}: its person is known already"
        super().__init__(message, problems=[problem(["person_id"], self.code, message)])


class NotTheReferredPerson(Conflict):
    """The chosen record holds another NHS number than the referral's: another person."""

    code = "nhs_number_differs"

    def __init__(self, person_id: UUID) -> None:
        message = (
            f"person {person_id} has another NHS number than the referred person:"
            " they are not the same person"
        )
        super().__init__(message, problems=[problem(["person_id"], self.code, message)])


class VersionConflict(Conflict):
    """The stream moved on since the client read it (optimistic concurrency)."""

    code = "version_conflict"

    def __init__(self, *, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, but the current version is {actual}")
        self.expected, self.actual = expected, actual


class EventIdTaken(Conflict):
    """A client-chosen event id already names a different event."""

    code = "event_id_reused"

    def __init__(self) -> None:
        message = "this event_id already belongs to another event; use a new id for a new event"
        super().__init__(message, problems=[problem(["event_id"], self.code, message)])


class FlagNotRaised(Conflict):
    """Only a flag raised on the case, and not lifted since, can be lifted."""

    code = "flag_not_raised"

    def __init__(self, case_id: UUID, flag: str) -> None:
        message = f"flag {flag} is not raised on case {case_id}: there is nothing to lift"
        super().__init__(message, problems=[problem(["data", "flag"], self.code, message)])


class CrisisEpisodeNotStarted(Conflict):
    """A crisis episode ends only after one started on the case."""

    code = "crisis_episode_not_started"

    def __init__(self, case_id: UUID) -> None:
        message = f"no crisis episode has started on case {case_id}, so none can end"
        super().__init__(message, problems=[problem(["type"], self.code, message)])


class UnknownEventType(Invalid):
    """The event type is not in this organisation's vocabulary for cases."""

    def __init__(self, event_type: str, allowed: Sequence[str]) -> None:
        message = f"{event_type!r} is not an event type here; allowed: {', '.join(allowed)}"
        super().__init__(message, problems=[problem(["type"], "unknown_event_type", message)])


class InvalidEventData(Invalid):
    """The event data does not follow its type's schema."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("the event data breaks its type's rules", problems=problems)


class ReferralToOwnOrganisation(Invalid):
    """An organisation refers people to others, never to itself."""

    def __init__(self) -> None:
        message = "a referral goes to another organisation"
        super().__init__(message, problems=[problem(["to_org"], "own_organisation", message)])
