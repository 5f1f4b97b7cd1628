import pytest

from services.gateway.domain.routing import (
    is_gateway_path,
    owner_of,
    safe_next,
    student_token,
)


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("/api/v1/students", "invite_service"),
        ("/api/v1/students:import", "invite_service"),
        ("/api/v1/students/S1", "invite_service"),
        ("/api/v1/sections/X", "invite_service"),
        ("/api/v1/reasons/r", "invite_service"),
        ("/api/v1/terms/t", "invite_service"),
        ("/api/v1/widgets/1", "invite_service"),
        ("/api/v1/invites/preview", "invite_service"),
        ("/api/v1/duration-rules", "invite_service"),
        ("/api/v1/faculty/sections", "invite_service"),
        ("/api/v1/centers", "search_service"),
        ("/api/v1/consultants/c", "search_service"),
        ("/api/v1/availabilities", "search_service"),
        ("/api/v1/invitations/tok/slots", "search_service"),
        ("/api/v1/appointments/a/cancel", "search_service"),
        ("/api/v1/reports/appointment-invite-schedule", "report_service"),
        ("/api/v1/mail", "notify_service"),
        ("/api/v1/mail/123", "notify_service"),
        ("/api/v1/studentsx", None),
        ("/api/v1/invitesx", None),
        ("/api/v1/unknown", None),
        ("/api/v2/students", None),
        ("/students", None),
    ],
)
def test_owner_of(path, owner):
    assert owner_of(path) == owner


def test_gateway_paths():
    assert is_gateway_path("/api/v1/auth/login")
    assert is_gateway_path("/api/v1/users/1/tokens")
    assert is_gateway_path("/api/v1/openapi.json")
    assert not is_gateway_path("/api/v1/usersx")
    assert not is_gateway_path("/api/v1/students")


def test_student_token():
    assert student_token("/api/v1/invitations/abc") == "abc"
    assert student_token("/api/v1/invitations/abc/slots") == "abc"
    assert student_token("/api/v1/invitations/") is None
    assert student_token("/api/v1/invitations") is None
    assert student_token("/api/v1/invites/abc") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/invites/1?x=2", "/invites/1?x=2"),
        (None, "/home"),
        ("", "/home"),
        ("https://evil.example/", "/home"),
        ("//evil.example/x", "/home"),
        ("/\\evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("relative/path", "/home"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target, "/home") == expected
