"""The worklists: which change each event of the organisation's log makes, how people are
found by keyed hashes of their family name and birth date, and the lists read through the
service layer on the in-memory unit of work."""

import base64
import hashlib
import hmac
import json
from datetime import date
from uuid import UUID, uuid4

import pytest

from events.envelope import Envelope, OrgId
from events.mental_health import CareCoordinatorAssigned
from events.registry import EventPayload
from events.shared import (
    CaseClosed,
    CaseOpened,
    FlagRaised,
    KeyWorker,
    PersonDetails,
    PersonRegistered,
    ReferralAccepted,
    ReferralDeclined,
    ReferralMade,
    ReferralReceived,
)
from events.voluntary import KeyWorkerAssigned
from services.organisation.domain.commands import MakeReferral, OpenCase, RegisterPerson
from services.organisation.domain.worklists import (
    BadCursor,
    CaseClosedListed,
    CaseLeadChanged,
    CaseListed,
    PersonListed,
    ReferralListed,
    ReferralMoved,
    cursor_after,
    needs_opening,
    next_cursor,
    search_token,
    worklist_change,
)
from services.organisation.service_layer import cases, people, referrals
from services.organisation.service_layer.worklists import (
    apply_to_worklists,
    caseload_page,
    people_page,
    referrals_page,
)
from tests.unit.organisation.domain_examples import (
    DETAILS,
    KEY_WORKER,
    NOW,
    PLACE,
    a_recording,
    recorded,
)
from tests.unit.organisation.fake_unit_of_work import fake_unit_of_work

KEY = bytes(range(32))
PERSON_ID = UUID("5f0c3a52-2d3e-4b61-9d7e-0a1b2c3d4e5f")
REFERRAL_ID = UUID("a1b2c3d4-0000-4000-8000-00000000000a")
CASE_ID = UUID("c0ffee00-0000-4000-8000-00000000000c")
LEAD = KeyWorker(name="Priya Shah", team="Crisis team", email="priya.shah@trust.example")


def _envelope(payload: EventPayload, org: OrgId = "housing") -> Envelope:
    [envelope] = recorded(payload, org=org, subject=PERSON_ID)
    return envelope


def _change(payload: EventPayload, org: OrgId = "housing") -> object:
    return worklist_change(_envelope(payload, org), details=None, search_key=KEY)


def test_a_registration_lists_the_person_by_tokens_of_family_name_and_birth_date() -> None:
    envelope = _envelope(PersonRegistered(person_id=PERSON_ID, details=DETAILS))
    change = worklist_change(envelope, details=DETAILS, search_key=KEY)
    assert change == PersonListed(
        PERSON_ID,
        search_token(KEY, "family_name", "Morgan"),
        search_token(KEY, "date_of_birth", date(1987, 5, 14)),
        NOW,
    )
    assert needs_opening(envelope)


def test_a_registration_of_a_person_erased_since_lists_nobody() -> None:
    envelope = _envelope(PersonRegistered(person_id=PERSON_ID, details=DETAILS))
    assert worklist_change(envelope, details=None, search_key=KEY) is None


def test_a_referral_made_is_listed_outgoing_to_the_receiver() -> None:
    made = ReferralMade(
        referral_id=REFERRAL_ID,
        person_id=PERSON_ID,
        to_org="voluntary",
        reason="Food bank",
        urgency="urgent",
        person=DETAILS,
    )
    assert _change(made) == ReferralListed(
        REFERRAL_ID, "outgoing", "made", "voluntary", PERSON_ID, "urgent", NOW
    )
    assert not needs_opening(_envelope(made))


def test_a_referral_received_is_listed_incoming_from_the_sender() -> None:
    received = ReferralReceived(
        referral_id=REFERRAL_ID,
        person_id=PERSON_ID,
        from_org="housing",
        reason="Food bank",
        urgency="emergency",
    )
    assert _change(received, "voluntary") == ReferralListed(
        REFERRAL_ID, "incoming", "received", "housing", PERSON_ID, "emergency", NOW
    )


def test_accepting_or_declining_a_referral_decides_it() -> None:
    accepted = ReferralAccepted(
        referral_id=REFERRAL_ID, person_id=PERSON_ID, from_org="housing", case_id=CASE_ID
    )
    declined = ReferralDeclined(
        referral_id=REFERRAL_ID, person_id=PERSON_ID, from_org="housing", reason="Out of area"
    )
    assert _change(accepted, "voluntary") == ReferralMoved(REFERRAL_ID, "accepted", NOW)
    assert _change(declined, "voluntary") == ReferralMoved(REFERRAL_ID, "declined", NOW)


def test_an_opened_case_is_listed_with_its_key_worker() -> None:
    opened = CaseOpened(case_id=CASE_ID, person_id=PERSON_ID, reason="Rent", key_worker=LEAD)
    without_email = opened.model_copy(update={"key_worker": KEY_WORKER})
    assert _change(opened) == CaseListed(
        CASE_ID, PERSON_ID, "Priya Shah", "priya.shah@trust.example", NOW
    )
    assert _change(without_email) == CaseListed(CASE_ID, PERSON_ID, "Sam Okafor", None, NOW)


def test_a_care_coordinator_or_key_worker_assigned_leads_the_case() -> None:
    coordinator = CareCoordinatorAssigned(case_id=CASE_ID, coordinator=LEAD)
    key_worker = KeyWorkerAssigned(case_id=CASE_ID, key_worker=KEY_WORKER)
    assert _change(coordinator, "mental_health") == CaseLeadChanged(
        CASE_ID, "Priya Shah", "priya.shah@trust.example", NOW
    )
    assert _change(key_worker, "voluntary") == CaseLeadChanged(CASE_ID, "Sam Okafor", None, NOW)


def test_a_closed_case_is_closed_on_the_list() -> None:
    closed = CaseClosed(case_id=CASE_ID, outcome="Rent paid")
    assert _change(closed) == CaseClosedListed(CASE_ID, NOW)


def test_an_event_the_lists_do_not_show_changes_nothing() -> None:
    assert _change(FlagRaised(case_id=CASE_ID, flag="risk_to_staff")) is None


def test_a_family_name_has_one_token_however_it_is_typed() -> None:
    tokens = {search_token(KEY, "family_name", n) for n in ("O'Neil-Smith", "oneil smith")}
    tokens.add(search_token(KEY, "family_name", "ÓNEIL SMITH"))
    assert tokens == {search_token(KEY, "family_name", "ONeilSmith")}
    assert len(tokens.pop()) == 32


def test_another_name_key_or_field_has_another_token() -> None:
    token = search_token(KEY, "family_name", "O'Neil-Smith")
    assert search_token(KEY, "family_name", "O'Neill-Smith") != token
    assert search_token(KEY, "family_name", "Smith-O'Neil") != token
    assert search_token(bytes(32), "family_name", "O'Neil-Smith") != token
    assert search_token(KEY, "given_name", "O'Neil-Smith") != token


def test_a_token_holds_nothing_of_the_name() -> None:
    token = search_token(KEY, "family_name", "Morgan")
    for readable in (b"Morgan", b"morgan", b"MORGAN", b"Mor", b"gan"):
        assert readable not in token
    assert token != hashlib.sha256(b"family_name:morgan").digest()  # keyed, not a plain hash


def test_a_birth_date_token_is_the_keyed_hash_of_its_iso_date() -> None:
    expected = hmac.new(KEY, b"date_of_birth:1987-05-14", hashlib.sha256).digest()
    assert search_token(KEY, "date_of_birth", date(1987, 5, 14)) == expected
    assert search_token(KEY, "date_of_birth", date(1987, 5, 15)) != expected
    assert search_token(KEY, "date_of_birth", date(1987, 5, 14)) != search_token(
        KEY, "family_name", date(1987, 5, 14)
    )


def test_a_cursor_says_where_its_list_goes_on_and_only_for_its_list() -> None:
    cursor = next_cursor("case_list", NOW, CASE_ID)
    assert cursor_after(cursor, "case_list") == (NOW, CASE_ID)
    assert cursor_after(None, "case_list") is None
    for bad, table in ((cursor, "referral_list"), ("garbage", "case_list"), ("", "case_list")):
        with pytest.raises(BadCursor):
            cursor_after(bad, table)


def _forged(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def test_a_forged_cursor_with_a_number_for_an_id_is_a_bad_cursor() -> None:
    with pytest.raises(BadCursor):
        cursor_after(_forged("case_list", NOW.isoformat(), 5), "case_list")


def test_a_forged_cursor_with_a_time_without_zone_is_a_bad_cursor() -> None:
    with pytest.raises(BadCursor):
        cursor_after(_forged("case_list", "2025-03-04T10:00:00", str(CASE_ID)), "case_list")


BEA = PersonDetails(
    local_id="HX-2", given_name="Bea", family_name="O'Neil-Smith", date_of_birth=date(1990, 1, 2)
)


async def test_the_lists_are_kept_from_the_log_and_read_with_the_peoples_details() -> None:
    stores, new_uow = fake_unit_of_work("housing")
    async with new_uow() as uow:
        alex = await people.register_person(
            uow, recording=a_recording(), command=RegisterPerson(DETAILS, PLACE)
        )
        bea = await people.register_person(
            uow, recording=a_recording(minutes_later=1), command=RegisterPerson(BEA, PLACE)
        )
        case = await cases.open_case(
            uow,
            recording=a_recording(minutes_later=2),
            command=OpenCase(alex.person_id, "Rent arrears", KEY_WORKER),
        )
        referral_id = await referrals.make_referral(
            uow,
            recording=a_recording(minutes_later=3),
            command=MakeReferral(bea.person_id, "voluntary", "Food bank", "urgent"),
        )
        await uow.commit()
    log = [stored.envelope for stream in stores.streams.values() for stored in stream]
    async with new_uow() as uow:
        assert await apply_to_worklists(uow, log) == 4
        assert await apply_to_worklists(uow, log) == 4  # again: the same rows
        await uow.worklists.apply([CaseListed(uuid4(), uuid4(), "Sam Okafor", None, NOW)])
        await uow.commit()
    async with new_uow() as uow:
        caseload = await caseload_page(
            uow, statuses=["open"], key_worker="SAM OKAFOR", limit=1, cursor=None
        )
        outgoing = await referrals_page(
            uow, direction="outgoing", statuses=[], limit=10, cursor=None
        )
        by_name = await people_page(
            uow, family_name="oneil smith", date_of_birth=None, limit=10, cursor=None
        )
        by_both = await people_page(
            uow, family_name="MORGAN", date_of_birth=date(1987, 5, 14), limit=10, cursor=None
        )
        rest = await caseload_page(
            uow, statuses=["open"], key_worker="sam okafor", limit=1, cursor=caseload.next_cursor
        )
    [listed_case] = caseload.items
    assert (listed_case.row.case_id, listed_case.person, caseload.total) == (
        case.case_id,
        DETAILS,
        2,
    )
    [unknown] = rest.items  # listed for a person this organisation has no stream of
    assert (unknown.person, rest.next_cursor) == (None, None)
    [referral] = outgoing.items
    assert (referral.row.referral_id, referral.row.other_org, referral.row.urgency) == (
        referral_id,
        "voluntary",
        "urgent",
    )
    assert (referral.row.status, referral.person) == ("made", BEA)
    assert [(i.row.person_id, i.person) for i in by_name.items] == [(bea.person_id, BEA)]
    assert [(i.row.person_id, i.person) for i in by_both.items] == [(alex.person_id, DETAILS)]
