"""Every public route of the search service, registered with its models (→ OpenAPI)."""

from __future__ import annotations

from aiohttp import web

from services.search_service import api_appointments as appts
from services.search_service import api_booking as booking
from services.search_service import api_invitations as links
from services.search_service import api_staff as staff
from services.search_service.models import (
    AppointmentDetail,
    AppointmentList,
    AppointmentQuery,
    AttendanceIn,
    AvailabilityIn,
    AvailabilityList,
    AvailabilityOut,
    AvailabilityQuery,
    BookIn,
    CenterIn,
    CenterList,
    CenterOut,
    CenterPatch,
    ConsultantIn,
    ConsultantList,
    ConsultantOut,
    InvitationOut,
    SlotList,
    SlotsQuery,
    StudentAppointmentOut,
)
from shared.openapi import add_api_route

STAFF = ("admin", "staff")
READERS = ("admin", "staff", "faculty")
# The token in the path authorises; any signed identity may call (students come as "student").
LINK = ("student", "admin", "staff", "faculty", "service")


def setup_routes(app: web.Application) -> None:
    r = add_api_route
    r(
        app,
        "POST",
        "/api/v1/centers",
        staff.create_center,
        summary="Create a center",
        roles=STAFF,
        body=CenterIn,
        response=CenterOut,
        status=201,
    )
    r(
        app,
        "GET",
        "/api/v1/centers",
        staff.list_centers,
        summary="List centers",
        roles=READERS,
        response=CenterList,
    )
    r(
        app,
        "GET",
        "/api/v1/centers/{center_id}",
        staff.get_center,
        summary="A center",
        roles=READERS,
        response=CenterOut,
    )
    r(
        app,
        "PATCH",
        "/api/v1/centers/{center_id}",
        staff.patch_center,
        summary="Change a center",
        roles=STAFF,
        body=CenterPatch,
        response=CenterOut,
    )

    r(
        app,
        "POST",
        "/api/v1/consultants",
        staff.create_consultant,
        summary="Create a consultant",
        roles=STAFF,
        body=ConsultantIn,
        response=ConsultantOut,
        status=201,
    )
    r(
        app,
        "GET",
        "/api/v1/consultants",
        staff.list_consultants,
        summary="List consultants",
        roles=READERS,
        response=ConsultantList,
    )
    r(
        app,
        "GET",
        "/api/v1/consultants/{consultant_id}",
        staff.get_consultant,
        summary="A consultant",
        roles=READERS,
        response=ConsultantOut,
    )

    r(
        app,
        "POST",
        "/api/v1/availabilities",
        staff.create_availabilities,
        summary='Create one availability, or many with {"items": [...]} (all or nothing)',
        roles=STAFF,
        body=AvailabilityIn,
        response=AvailabilityOut,
        status=201,
    )
    r(
        app,
        "GET",
        "/api/v1/availabilities",
        staff.list_availabilities,
        summary="List availabilities",
        roles=STAFF,
        query=AvailabilityQuery,
        response=AvailabilityList,
    )
    r(
        app,
        "GET",
        "/api/v1/availabilities/{availability_id}",
        staff.get_availability,
        summary="An availability",
        roles=STAFF,
        response=AvailabilityOut,
    )

    r(
        app,
        "GET",
        "/api/v1/invitations/{token}",
        links.get_invitation,
        summary="What an invite link allows",
        roles=LINK,
        response=InvitationOut,
    )
    r(
        app,
        "GET",
        "/api/v1/invitations/{token}/slots",
        links.get_slots,
        summary="Bookable slots of an invite (window ≤ 31 days)",
        roles=LINK,
        query=SlotsQuery,
        response=SlotList,
    )
    r(
        app,
        "POST",
        "/api/v1/invitations/{token}/appointments",
        booking.book,
        summary="Book a slot through an invite link",
        roles=LINK,
        body=BookIn,
        response=StudentAppointmentOut,
        status=201,
    )
    r(
        app,
        "GET",
        "/api/v1/invitations/{token}/appointment",
        booking.get_my_appointment,
        summary="The appointment booked through an invite link",
        roles=LINK,
        response=StudentAppointmentOut,
    )

    r(
        app,
        "GET",
        "/api/v1/appointments",
        appts.list_appointments,
        summary="List appointments",
        roles=STAFF,
        query=AppointmentQuery,
        response=AppointmentList,
    )
    r(
        app,
        "GET",
        "/api/v1/appointments/{appointment_id}",
        appts.get_appointment,
        summary="An appointment with its staff-only invite block",
        roles=STAFF,
        response=AppointmentDetail,
    )
    r(
        app,
        "PATCH",
        "/api/v1/appointments/{appointment_id}",
        appts.patch_appointment,
        summary="Mark attendance",
        roles=STAFF,
        body=AttendanceIn,
        response=AppointmentDetail,
    )
    r(
        app,
        "POST",
        "/api/v1/appointments/{appointment_id}/cancel",
        appts.cancel_appointment,
        summary="Cancel an appointment (frees the slot)",
        roles=STAFF,
        response=AppointmentDetail,
    )
