"""The single view as a FHIR R4 `Bundle` (type `collection`), aligned with UK Core.

Pure: a `CitizenView` in, FHIR JSON out. What goes where:
- `Patient`: the best-known identity; the NHS number under the NHS number system
  (`https://fhir.nhs.uk/Id/nhs-number`, UK Core), each organisation's own person reference
  as a further identifier, the UK Core Patient profile in `meta.profile`.
- Every entry's `fullUrl` is a `urn:uuid:` (the resource's id when that is a UUID, as the
  Patient's citizen id is), and every reference points at one, so it resolves in the bundle.
- `Organization`: each organisation involved, referenced by everything it owns.
- `EpisodeOfCare`: one per case (active or finished, with its period and reason).
- `CareTeam`: one per organisation with key workers: who they are and how to reach them.
- `Flag`: one per raised flag or risk, with when and by which organisation.
- `ServiceRequest` + `Task`: one pair per referral. The ServiceRequest says what was asked,
  by whom, of whom and how urgently; the Task carries the receiving side's status
  (requested, received, accepted, rejected), a decline's reason, and the status history of
  both sides as `businessStatus` text.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from events.envelope import OrgId
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.projection.domain.view import (
    CaseView,
    CitizenView,
    Flag,
    Involvement,
    KeyWorkerContact,
    Referral,
)

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
UK_CORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
LOCAL_ID_SYSTEM = "https://caseweave.org/Id/{org}/person"
_TASK_STATUS = {"made": "requested", "received": "received", "accepted": "accepted",
                "declined": "rejected", "withdrawn": "cancelled"}  # fmt: skip
_SERVICE_REQUEST_STATUS = {"made": "active", "received": "active", "accepted": "active",
                           "declined": "revoked", "withdrawn": "revoked"}  # fmt: skip
_PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}

Resource = dict[str, Any]


def citizen_bundle(
    view: CitizenView, *, generated_at: datetime, place: Organisations = DEFAULT_ORGANISATIONS
) -> Resource:
    """Return the single view of one citizen as a FHIR `Bundle` of type `collection` (each
    organisation by its name in `place`)."""
    patient_ref = _reference("Patient", str(view.citizen_id))
    resources: list[Resource] = [_patient(view)]
    orgs = sorted({i.org for i in view.involvements} | _referral_orgs(view.referrals))
    resources += [_organization(org, place) for org in orgs]
    for involvement in view.involvements:
        resources += [_episode(involvement.org, case, patient_ref) for case in involvement.cases]
        team = _care_team(involvement, patient_ref, place)
        if team is not None:
            resources.append(team)
    resources += [_flag(flag, patient_ref) for flag in view.flags]
    for referral in view.referrals:
        resources += _referral(referral, patient_ref)
    return {
        "resourceType": "Bundle",
        "id": str(uuid5(view.citizen_id, generated_at.isoformat())),
        "type": "collection",
        "timestamp": generated_at.isoformat(),
        "entry": [
            {"fullUrl": _full_url(r["resourceType"], r["id"]), "resource": r} for r in resources
        ],
    }


def _patient(view: CitizenView) -> Resource:
    identity = view.identity
    identifiers: list[Resource] = []
    if identity.nhs_number:
        identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": identity.nhs_number.value})
    identifiers += [
        {"system": LOCAL_ID_SYSTEM.format(org=_fhir_id(i.org)), "value": i.person_id}
        for i in view.involvements
    ]
    patient: Resource = {
        "resourceType": "Patient",
        "id": str(view.citizen_id),
        "meta": {"profile": [UK_CORE_PATIENT]},
        "identifier": identifiers,
    }
    name = _name(identity.given_name.value if identity.given_name else None,
                 identity.family_name.value if identity.family_name else None)  # fmt: skip
    if name:
        patient["name"] = [name]
    if identity.date_of_birth:
        patient["birthDate"] = _date(identity.date_of_birth.value)
    address: Resource = {"use": "home"}
    if identity.address:
        address["line"] = [identity.address.value]
    if identity.postcode:
        address["postalCode"] = identity.postcode.value
    if len(address) > 1:
        patient["address"] = [address]
    return patient


def _name(given: str | None, family: str | None) -> Resource:
    name: Resource = {}
    if given or family:
        name["use"] = "official"
    if family:
        name["family"] = family
    if given:
        name["given"] = [given]
    return name


def _organization(org: OrgId, place: Organisations) -> Resource:
    return {"resourceType": "Organization", "id": _fhir_id(org), "name": place.name_of(org)}


def _episode(org: OrgId, case: CaseView, patient_ref: Resource) -> Resource:
    episode: Resource = {
        "resourceType": "EpisodeOfCare",
        "id": str(case.case_id),
        "status": "active" if case.status == "open" else "finished",
        "patient": patient_ref,
        "managingOrganization": _reference("Organization", _fhir_id(org)),
    }
    period = {
        key: _instant(moment)
        for key, moment in (("start", case.opened_at), ("end", case.closed_at))
        if moment is not None
    }
    if period:
        episode["period"] = period
    if case.reason:
        episode["type"] = [{"text": case.reason}]
    return episode


def _care_team(
    involvement: Involvement, patient_ref: Resource, place: Organisations
) -> Resource | None:
    workers = _distinct_workers(case.key_worker for case in involvement.cases if case.key_worker)
    if not workers:
        return None
    team: Resource = {
        "resourceType": "CareTeam",
        "id": str(uuid5(NAMESPACE_URL, f"careteam:{patient_ref['reference']}:{involvement.org}")),
        "status": "active",
        "name": f"{place.name_of(involvement.org)} key workers",
        "subject": patient_ref,
        "managingOrganization": [_reference("Organization", _fhir_id(involvement.org))],
        "participant": [_participant(worker) for worker in workers],
    }
    telecom = [t for worker in workers for t in _telecom(worker)]
    if telecom:
        team["telecom"] = telecom
    return team


def _distinct_workers(workers: Iterable[KeyWorkerContact]) -> list[KeyWorkerContact]:
    seen: dict[tuple[str, str | None], KeyWorkerContact] = {}
    for worker in workers:
        seen.setdefault((worker.name, worker.team), worker)
    return list(seen.values())


def _participant(worker: KeyWorkerContact) -> Resource:
    participant: Resource = {"member": {"display": worker.name}}
    role = ", ".join(part for part in (worker.role, worker.team) if part)
    if role:
        participant["role"] = [{"text": role}]
    return participant


def _telecom(worker: KeyWorkerContact) -> list[Resource]:
    found = []
    if worker.phone:
        found.append({"system": "phone", "value": worker.phone, "use": "work"})
    if worker.email:
        found.append({"system": "email", "value": worker.email, "use": "work"})
    return found


def _flag(flag: Flag, patient_ref: Resource) -> Resource:
    key = f"flag:{patient_ref['reference']}:{flag.org}:{flag.flag}"
    resource: Resource = {
        "resourceType": "Flag",
        "id": str(uuid5(NAMESPACE_URL, key)),
        "status": "active",
        "code": {"text": flag.flag.replace("_", " ")},
        "subject": patient_ref,
        "period": {"start": _instant(flag.raised_at)},
        "author": _reference("Organization", _fhir_id(flag.org)),
    }
    if flag.note:
        resource["code"]["text"] += f": {flag.note}"
    return resource


def _referral(referral: Referral, patient_ref: Resource) -> list[Resource]:
    request_id = str(referral.referral_id)
    requester = _reference("Organization", _fhir_id(referral.from_org))
    owner = _reference("Organization", _fhir_id(referral.to_org))
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": request_id,
        "status": _SERVICE_REQUEST_STATUS[referral.status],
        "intent": "order",
        "subject": patient_ref,
        "requester": requester,
        "performer": [owner],
    }
    if referral.urgency:
        request["priority"] = _PRIORITY[referral.urgency]
    if referral.reason:
        request["reasonCode"] = [{"text": referral.reason}]
    if referral.made_at:
        request["authoredOn"] = _instant(referral.made_at)
    task: Resource = {
        "resourceType": "Task",
        "id": str(uuid5(referral.referral_id, "task")),
        "status": _TASK_STATUS[referral.status],
        "intent": "order",
        "focus": _reference("ServiceRequest", request_id),
        "for": patient_ref,
        "requester": requester,
        "owner": owner,
    }
    if referral.history:
        task["businessStatus"] = {
            "text": "; ".join(
                f"{change.status} by {change.org} at {_instant(change.occurred_at)}"
                for change in referral.history
            )
        }
        task["lastModified"] = _instant(referral.history[-1].occurred_at)
    if referral.made_at:
        task["authoredOn"] = _instant(referral.made_at)
    if referral.decline_reason:
        task["statusReason"] = {"text": referral.decline_reason}
    return [request, task]


def _referral_orgs(referrals: Iterable[Referral]) -> set[OrgId]:
    return {org for r in referrals for org in (r.from_org, r.to_org)}


def _fhir_id(org: OrgId) -> str:
    """FHIR ids allow letters, digits, '-' and '.': mental_health becomes mental-health."""
    return org.replace("_", "-")


def _full_url(kind: str, resource_id: str) -> str:
    """Return the `urn:uuid:` a resource is known by in the bundle (its id, if a UUID)."""
    try:
        return f"urn:uuid:{UUID(resource_id)}"
    except ValueError:
        return f"urn:uuid:{uuid5(NAMESPACE_URL, f'{kind}/{resource_id}')}"


def _reference(kind: str, resource_id: str) -> Resource:
    """Return a reference that resolves inside the bundle (to that resource's fullUrl)."""
    return {"reference": _full_url(kind, resource_id), "type": kind}


def _date(value: date) -> str:
    return value.isoformat()


def _instant(moment: datetime) -> str:
    return moment.isoformat()
