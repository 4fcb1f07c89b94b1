"""The single view as FHIR: every resource validates against the FHIR models (fhir.resources).

fhir.resources 8 ships R4B (4.3) as its R4-line models; the resources used here (Patient,
Organization, EpisodeOfCare, CareTeam, Flag, ServiceRequest, Task, Bundle) have the same
shape in R4 4.0.1 for the elements we fill.
"""

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.task import Task

from services.projection.domain.fhir_bundle import NHS_NUMBER_SYSTEM, citizen_bundle
from tests.unit.projection.factories import NHS_NUMBER, PersonAt, details, folded
from tests.unit.projection.stories import three_organisations_story

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def the_story_bundle() -> dict[str, Any]:
    story = three_organisations_story()
    view = folded([e for events in story.values() for e in events])
    return citizen_bundle(view, generated_at=NOW)


def resources_of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def resolved(bundle: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Return the resource a reference points at inside the bundle (by its fullUrl)."""
    [resource] = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == reference["reference"]]
    return resource


def references_in(value: object) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value] if "reference" in value else []
        return found + [r for v in value.values() for r in references_in(v)]
    if isinstance(value, list):
        return [r for v in value for r in references_in(v)]
    return []


def test_every_reference_resolves_inside_the_bundle() -> None:
    bundle = the_story_bundle()
    references = [r for e in bundle["entry"] for r in references_in(e["resource"])]

    assert len(references) > 20
    for reference in references:
        assert resolved(bundle, reference)["resourceType"] == reference["type"]


def test_the_bundle_and_every_resource_in_it_validate() -> None:
    bundle = Bundle.model_validate(the_story_bundle())

    kinds = sorted({entry.resource.get_resource_type() for entry in bundle.entry or []})
    assert kinds == [
        "CareTeam", "EpisodeOfCare", "Flag", "Organization", "Patient", "ServiceRequest", "Task",
    ]  # fmt: skip


def test_the_patient_carries_the_nhs_number_under_the_uk_core_system() -> None:
    [patient_json] = resources_of(the_story_bundle(), "Patient")
    patient = Patient.model_validate(patient_json)

    nhs = [i.value for i in patient.identifier or [] if i.system == NHS_NUMBER_SYSTEM]
    assert nhs == [NHS_NUMBER]
    assert patient.birthDate is not None
    assert len(patient.identifier or []) == 4  # the NHS number and each organisation's id


def test_each_case_is_an_episode_of_care_managed_by_its_organisation() -> None:
    bundle = the_story_bundle()
    episodes = resources_of(bundle, "EpisodeOfCare")

    assert len(episodes) == 3
    assert {resolved(bundle, e["managingOrganization"])["id"] for e in episodes} == {
        "housing", "mental-health", "voluntary",
    }  # fmt: skip


def test_key_workers_are_a_care_team_with_their_role() -> None:
    teams = resources_of(the_story_bundle(), "CareTeam")
    for team in teams:
        CareTeam.model_validate(team)

    members = {
        (p["member"]["display"], p.get("role", [{}])[0].get("text"))
        for team in teams
        for p in team["participant"]
    }
    assert ("Ada Lovelace", "care coordinator, CMHT") in members
    assert ("Jo Reid", None) in members


def test_a_referral_is_a_service_request_and_a_task_with_both_sides_status() -> None:
    bundle = the_story_bundle()
    [request] = resources_of(bundle, "ServiceRequest")
    [task_json] = resources_of(bundle, "Task")
    task = Task.model_validate(task_json)

    assert request["priority"] == "urgent"
    assert request["status"] == "active"
    assert resolved(bundle, request["requester"])["id"] == "housing"
    assert task.status == "accepted"
    assert resolved(bundle, task_json["focus"]) == request
    assert task.businessStatus is not None
    assert "accepted by voluntary" in (task.businessStatus.text or "")


def test_flags_name_what_was_raised_and_by_which_organisation() -> None:
    bundle = the_story_bundle()
    flags = resources_of(bundle, "Flag")

    assert {(f["code"]["text"], resolved(bundle, f["author"])["id"]) for f in flags} >= {
        ("risk to self", "mental-health"),
    }


def test_the_patient_has_the_first_line_of_the_address_with_the_postcode() -> None:
    person = PersonAt("housing")
    registered = person.registered(NOW, details(postcode="BS5 6XX", address="12 Mill Road"))
    bundle = citizen_bundle(folded([registered]), generated_at=NOW)
    [patient_json] = resources_of(bundle, "Patient")
    patient = Patient.model_validate(patient_json)

    [address] = patient.address or []
    assert (address.use, address.line, address.postalCode) == ("home", ["12 Mill Road"], "BS5 6XX")
    without = citizen_bundle(folded([person.registered(NOW, details())]), generated_at=NOW)
    assert "address" not in resources_of(without, "Patient")[0]
