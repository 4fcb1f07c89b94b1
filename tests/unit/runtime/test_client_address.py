"""How the failed-authentication limiter names a client: by address, bounded in number."""

import pytest
from starlette.requests import Request

from services.runtime.http.auth import client_address


def _from(host: str | None) -> Request:
    scope = {"type": "http", "headers": [], "client": (host, 50000) if host is not None else None}
    return Request(scope)


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        # one IPv6 host holds a whole /64: counted per /64, or it could fail for ever
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        # an IPv4 client as a dual-stack proxy writes it: itself, not all of ::/64
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::1", "::/64"),
        # a trusted proxy passing on a forwarded value that is no address (of any size):
        # one name, not one bucket per made-up value
        ("x" * 10_000, "not-an-address"),
        ("203.0.113.7, 198.51.100.1", "not-an-address"),
        (None, "not-an-address"),
    ],
)
def test_a_client_is_counted_by_its_address(host: str | None, counted_as: str) -> None:
    assert client_address(_from(host)) == counted_as
