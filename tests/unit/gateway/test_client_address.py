import pytest

from services.gateway.domain.client_address import client_address
from shared.settings import parse_networks

PROXIES = parse_networks("10.0.0.0/8, 2001:db8::/32")


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address("10.1.2.3", "203.0.113.9", ()) == "10.1.2.3"


def test_a_header_from_an_untrusted_peer_is_ignored():
    assert client_address("198.51.100.4", "203.0.113.9", PROXIES) == "198.51.100.4"


def test_the_first_untrusted_hop_from_the_right_is_the_client():
    # The client claims to be 1.2.3.4; our ingress appended the real address.
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.9", PROXIES) == "203.0.113.9"
    assert client_address("10.0.0.5", "203.0.113.9, 10.0.0.7", PROXIES) == "203.0.113.9"


def test_ports_and_ipv6_are_understood():
    assert client_address("10.0.0.5", "203.0.113.9:5123", PROXIES) == "203.0.113.9"
    assert client_address("2001:db8::1", "[2001:db9::7]:443", PROXIES) == "2001:db9::7"


def test_garbage_or_missing_header_falls_back_to_the_peer():
    assert client_address("10.0.0.5", "not-an-address", PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", None, PROXIES) == "10.0.0.5"
    assert client_address(None, "203.0.113.9", PROXIES) == "unknown"


def test_all_hops_trusted_gives_the_leftmost():
    assert client_address("10.0.0.5", "10.9.9.9, 10.0.0.7", PROXIES) == "10.9.9.9"


def test_bad_network_is_named():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("10.0.0.0/8, 10.0.0.300")
