"""A small, hand-computable scenario of events for the report service.

Center "Learning Center" in America/New_York (UTC-5 in early March 2026).
Terms: Fall 2025 (2025-08-25..2025-12-15), Spring 2026 (2026-01-12..2026-05-08).

appt invitee student            invite    start (UTC)       local date  min consultant  attendance
ap1  iv1     st1 Ada Lovelace   I1 Exam   2026-03-02 14:00  03-02       90  Grace       attended
ap2  iv2     st2 Blaise P.*     I1 Exam   2026-03-03 15:00  03-03       60  Alan        no_show
ap3  iv3     st3 Carl Gauss     I2 Quiz   2026-03-04 04:30  03-03 (!)   60  Grace       pending
ap4  iv4     st4 @SUM(A1) Evil  I2 Quiz   2026-03-05 16:00  cancelled   60  Alan
ap5  iv4     st4 @SUM(A1) Evil  I2 Quiz   2026-03-06 16:00  03-06       30  Alan        pending
(* renamed in the directory after the invite; Grace Hopper K1, Alan Turing K2)

I1: type Exam, section S1 (MATH 101-01), reason R1 (Exam proctoring), exam code MATH-MID,
passcode pw1, file mid.pdf, due 2026-03-10. I2: type "Pop Quiz", section S2 (CHEM 210-02),
reason R2 (Tutoring), exam code "<script>x</script>", due 2026-03-12.
ap1's attendance was marked no_show, then (later) attended.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AttendanceMarked,
    CenterRef,
    CenterUpserted,
    ConsultantRef,
    EmailFailed,
    EmailSent,
    InviteCreated,
    InviteeData,
    InviteeStatusChanged,
    ReasonRef,
    ReasonUpserted,
    SectionRef,
    SectionUpserted,
    StudentData,
    StudentsUpserted,
    TermUpserted,
    WidgetData,
    make_event,
)

TZ = "America/New_York"
T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def ev(type_: str, payload: Any, minute: int) -> Any:
    return make_event(type_, payload, producer="test", occurred_at=at(minute))


STUDENTS = {
    "st1": ("Ada", "Lovelace", "ada@example.edu", ["Active", "Accommodations"]),
    "st2": ("Blaise", "Pascal", "blaise@example.edu", ["Active"]),
    "st3": ("Carl", "Gauss", "carl@example.edu", []),
    "st4": ("@SUM(A1)", "Evil", "evil@example.edu", ["Active"]),
}


def _student(sid: str, **override: Any) -> StudentData:
    first, last, email, lists = STUDENTS[sid]
    data = {"first_name": first, "last_name": last, "email": email, "lists": lists}
    data.update(override)
    return StudentData(student_id=sid, **data)


def _invitee(iv: str, sid: str) -> InviteeData:
    first, last, email, lists = STUDENTS[sid]
    return InviteeData(
        invitee_id=iv,
        student_id=sid,
        first_name=first,
        last_name=last,
        email=email,
        lists=lists,
        token_hash="0" * 64,
        link=f"http://invites.test/i/{iv}",
    )


def _booked(ap: str, iv: str, invite: str, sid: str, start: datetime, minutes: int,
            consultant: tuple[str, str], minute: int) -> Any:  # fmt: skip
    return ev(
        "appointment.booked",
        AppointmentBooked(
            appointment_id=ap,
            invitee_id=iv,
            invite_id=invite,
            student_id=sid,
            availability_id="av1",
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            duration_minutes=minutes,
            asked_duration_minutes=60,
            consultant=ConsultantRef(id=consultant[0], name=consultant[1]),
            center=CenterRef(id="C1", name="Learning Center (old name)", timezone=TZ),
            modality="in_person",
            kind="one_on_one",
            booked_by="student",
            booked_at=at(minute),
        ),
        minute,
    )


GRACE = ("K1", "Grace Hopper")
ALAN = ("K2", "Alan Turing")


def scenario_events() -> list[Any]:
    """Every event of the scenario, in the order the producers emitted them."""
    events = [
        ev(
            "center.upserted",
            CenterUpserted(center_id="C1", name="Learning Center", timezone=TZ),
            0,
        ),
        ev(
            "directory.term_upserted",
            TermUpserted(
                term_id="F25",
                name="Fall 2025",
                starts_on=date(2025, 8, 25),
                ends_on=date(2025, 12, 15),
            ),
            1,
        ),
        ev(
            "directory.term_upserted",
            TermUpserted(
                term_id="S26",
                name="Spring 2026",
                starts_on=date(2026, 1, 12),
                ends_on=date(2026, 5, 8),
            ),
            2,
        ),
        ev("directory.reason_upserted", ReasonUpserted(reason_id="R1", name="Exam proctoring"), 3),
        ev("directory.reason_upserted", ReasonUpserted(reason_id="R2", name="Tutoring"), 4),
        ev(
            "directory.section_upserted",
            SectionUpserted(
                section_id="S1", subject="MATH", course="101", section="01", term_id="S26"
            ),
            5,
        ),
        ev(
            "directory.section_upserted",
            SectionUpserted(
                section_id="S2", subject="CHEM", course="210", section="02", term_id="S26"
            ),
            6,
        ),
        ev(
            "directory.students_upserted",
            StudentsUpserted(students=[_student(s) for s in ("st1", "st2", "st3", "st4")]),
            7,
        ),
        ev("widget.created", WidgetData(widget_id="W1", name="Testing Center Invites"), 8),
        ev(
            "invite.created",
            InviteCreated(
                invite_id="I1",
                widget_id="W1",
                widget_name="Testing Center Invites",
                center_ids=["C1"],
                created_by="staff-1",
                created_at=at(10),
                type="Exam",
                due_date=date(2026, 3, 10),
                section=SectionRef(section_id="S1", subject="MATH", course="101", section="01"),
                reason=ReasonRef(reason_id="R1", name="Exam proctoring"),
                duration_minutes=60,
                exam_code="MATH-MID",
                exam_file="mid.pdf",
                exam_passcode="pw1",
                subject_template="s",
                email_text="t",
                instructions_template="i",
                invitees=[_invitee("iv1", "st1"), _invitee("iv2", "st2")],
            ),
            10,
        ),
        ev(
            "invite.created",
            InviteCreated(
                invite_id="I2",
                widget_id="W1",
                created_by="staff-1",
                created_at=at(11),
                type="Pop Quiz",
                due_date=date(2026, 3, 12),
                section=SectionRef(section_id="S2", subject="CHEM", course="210", section="02"),
                reason=ReasonRef(reason_id="R2", name="Tutoring"),
                exam_code="<script>x</script>",
                subject_template="s",
                email_text="t",
                instructions_template="i",
                invitees=[_invitee("iv3", "st3"), _invitee("iv4", "st4")],
            ),
            11,
        ),
        ev(
            "email.sent",
            EmailSent(
                message_id="m1",
                kind="instructions",
                invitee_id="iv1",
                invite_id="I1",
                sent_at=at(12),
            ),
            12,
        ),
        ev(
            "email.failed",
            EmailFailed(
                message_id="m2",
                kind="reminder",
                sequence=1,
                invitee_id="iv1",
                invite_id="I1",
                error="mailbox full",
                permanent=False,
                failed_at=at(13),
            ),
            13,
        ),
        ev(
            "email.sent",
            EmailSent(
                message_id="m2",
                kind="reminder",
                sequence=1,
                invitee_id="iv1",
                invite_id="I1",
                sent_at=at(14),
            ),
            14,
        ),
        _booked("ap1", "iv1", "I1", "st1", utc(2026, 3, 2, 14), 90, GRACE, 20),
        _booked("ap2", "iv2", "I1", "st2", utc(2026, 3, 3, 15), 60, ALAN, 21),
        _booked("ap3", "iv3", "I2", "st3", utc(2026, 3, 4, 4, 30), 60, GRACE, 22),
        _booked("ap4", "iv4", "I2", "st4", utc(2026, 3, 5, 16), 60, ALAN, 23),
        ev(
            "invitee.status_changed",
            InviteeStatusChanged(invitee_id="iv4", invite_id="I2", status="booked"),
            23,
        ),
        ev(
            "appointment.cancelled",
            AppointmentCancelled(
                appointment_id="ap4",
                invitee_id="iv4",
                invite_id="I2",
                cancelled_at=at(24),
                cancelled_by="student",
            ),
            24,
        ),
        ev(
            "invitee.status_changed",
            InviteeStatusChanged(invitee_id="iv4", invite_id="I2", status="invited"),
            24,
        ),
        _booked("ap5", "iv4", "I2", "st4", utc(2026, 3, 6, 16), 30, ALAN, 25),
        ev(
            "invitee.status_changed",
            InviteeStatusChanged(invitee_id="iv4", invite_id="I2", status="booked"),
            25,
        ),
        ev(
            "appointment.attendance_marked",
            AttendanceMarked(
                appointment_id="ap1", invitee_id="iv1", invite_id="I1", attendance="no_show"
            ),
            30,
        ),
        ev(
            "appointment.attendance_marked",
            AttendanceMarked(
                appointment_id="ap1", invitee_id="iv1", invite_id="I1", attendance="attended"
            ),
            31,
        ),
        ev(
            "appointment.attendance_marked",
            AttendanceMarked(
                appointment_id="ap2", invitee_id="iv2", invite_id="I1", attendance="no_show"
            ),
            32,
        ),
        # The directory renames a student after the invite's snapshot.
        ev(
            "directory.students_upserted",
            StudentsUpserted(students=[_student("st2", first_name="Blaise P.")]),
            40,
        ),
    ]
    return events


# What the report shows, by appointment, for the default columns.
HEADER = [
    "student_id",
    "student_name",
    "invite_type",
    "appointment_start",
    "appointment_end",
    "duration_minutes",
    "consultant",
    "booked_by",
    "booked_at",
    "exam_code",
    "exam_passcode",
    "exam_file",
    "attendance",
    "section",
    "reason",
]

EXPECTED_ROWS: dict[str, list[str]] = {
    "ap1": ["st1", "Ada Lovelace", "Exam", "2026-03-02T09:00-05:00", "2026-03-02T10:30-05:00",
            "90", "Grace Hopper", "student", "2026-02-01T07:20-05:00", "MATH-MID", "pw1",
            "mid.pdf", "attended", "MATH 101-01", "Exam proctoring"],
    "ap2": ["st2", "Blaise P. Pascal", "Exam", "2026-03-03T10:00-05:00",
            "2026-03-03T11:00-05:00", "60", "Alan Turing", "student", "2026-02-01T07:21-05:00",
            "MATH-MID", "pw1", "mid.pdf", "no_show", "MATH 101-01", "Exam proctoring"],
    "ap3": ["st3", "Carl Gauss", "Pop Quiz", "2026-03-03T23:30-05:00",
            "2026-03-04T00:30-05:00", "60", "Grace Hopper", "student", "2026-02-01T07:22-05:00",
            "<script>x</script>", "", "", "pending", "CHEM 210-02", "Tutoring"],
    "ap4": ["st4", "'@SUM(A1) Evil", "Pop Quiz", "2026-03-05T11:00-05:00",
            "2026-03-05T12:00-05:00", "60", "Alan Turing", "student", "2026-02-01T07:23-05:00",
            "<script>x</script>", "", "", "pending", "CHEM 210-02", "Tutoring"],
    "ap5": ["st4", "'@SUM(A1) Evil", "Pop Quiz", "2026-03-06T11:00-05:00",
            "2026-03-06T11:30-05:00", "30", "Alan Turing", "student", "2026-02-01T07:25-05:00",
            "<script>x</script>", "", "", "pending", "CHEM 210-02", "Tutoring"],
}  # fmt: skip
