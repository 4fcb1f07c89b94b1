"""Read a value out of a /metrics page, as Prometheus would scrape it."""

from prometheus_client.parser import text_string_to_metric_families


def sample(page: str, name: str, **labels: str) -> float | None:
    """Return the value of the sample `name` with exactly `labels`, or None if absent."""
    for family in text_string_to_metric_families(page):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def samples(page: str, name: str) -> list[dict[str, str]]:
    """Return the label sets of every sample called `name`."""
    return [
        dict(found.labels)
        for family in text_string_to_metric_families(page)
        for found in family.samples
        if found.name == name
    ]
