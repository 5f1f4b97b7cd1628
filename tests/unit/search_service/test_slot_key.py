"""The slot cache's key: what it depends on, the minute it is computed as of, the coding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.search_service.domain.model import Availability, Restrictions
from services.search_service.domain.slot_key import (
    center_plan,
    next_minute,
    preferred_encoding,
    slots_key,
)
from services.search_service.domain.slots import generate_slots
from services.search_service.domain.window import Window

NOW = datetime(2026, 1, 6, 14, 29, 30, 500_000, tzinfo=UTC)
WEEK = Window(datetime(2026, 1, 5, 5, tzinfo=UTC), datetime(2026, 1, 10, 5, tzinfo=UTC))
R = Restrictions(due_date=date(2026, 1, 20), section_id="S1", reason_id="R1")


def plan(center_id: str = "c1", duration: int = 60, window: Window = WEEK, **kw: object):
    fields = {"name": "Tutoring", "timezone": "America/New_York", "interval_minutes": 30}
    fields.update(kw)
    return center_plan(
        center_id=center_id,
        duration_minutes=duration,
        window=window,
        **fields,  # type: ignore[arg-type]
    )


def test_next_minute_rounds_up_and_keeps_whole_minutes():
    assert next_minute(NOW) == datetime(2026, 1, 6, 14, 30, tzinfo=UTC)
    whole = datetime(2026, 1, 6, 14, 30, tzinfo=UTC)
    assert next_minute(whole) == whole
    assert next_minute(whole + timedelta(microseconds=1)) == whole + timedelta(minutes=1)
    assert next_minute(whole - timedelta(microseconds=1)) == whole


def test_slots_as_of_the_next_minute_never_start_before_now():
    a = Availability(
        "a1",
        "c1",
        "k1",
        datetime(2026, 1, 6, 14, 0, tzinfo=UTC),
        datetime(2026, 1, 6, 16, 0, tzinfo=UTC),
        1,
    )
    for now in (NOW, datetime(2026, 1, 6, 14, 30, tzinfo=UTC), NOW - timedelta(seconds=29)):
        starts = [
            s.starts_at
            for s in generate_slots(
                [a],
                {},
                interval_minutes=30,
                duration_minutes=30,
                window=WEEK,
                now=next_minute(now),
                not_after=None,
            )
        ]
        assert starts and min(starts) >= now
        # …and the first start at or after now is still offered.
        assert min(starts) == datetime(2026, 1, 6, 14, 30, tzinfo=UTC)


def test_one_key_for_everyone_asking_during_a_minute():
    first = slots_key(NOW.replace(second=1), R, [plan()])
    last = slots_key(NOW.replace(second=59), R, [plan()])
    assert first == last and hash(first) == hash(last)
    assert slots_key(NOW + timedelta(minutes=1), R, [plan()]) != first


def test_center_order_does_not_matter():
    one = slots_key(NOW, R, [plan("c1"), plan("c2")])
    two = slots_key(NOW, R, [plan("c2"), plan("c1")])
    assert one == two and one.center_set == frozenset({"c1", "c2"})


def test_everything_the_answer_depends_on_is_in_the_key():
    base = slots_key(NOW, R, [plan()])
    other_window = Window(WEEK.start + timedelta(days=1), WEEK.end)
    variants = [
        slots_key(
            NOW, Restrictions(due_date=R.due_date, section_id="S2", reason_id="R1"), [plan()]
        ),
        slots_key(
            NOW, Restrictions(due_date=R.due_date, section_id="S1", reason_id=None), [plan()]
        ),
        slots_key(
            NOW,
            Restrictions(due_date=R.due_date, section_id="S1", reason_id="R1", online=True),
            [plan()],
        ),
        slots_key(
            NOW,
            Restrictions(due_date=R.due_date, section_id="S1", reason_id="R1", group=False),
            [plan()],
        ),
        slots_key(
            NOW, Restrictions(due_date=date(2026, 1, 19), section_id="S1", reason_id="R1"), [plan()]
        ),
        slots_key(NOW, R, [plan(duration=30)]),
        slots_key(NOW, R, [plan(window=other_window)]),
        slots_key(NOW, R, [plan(interval_minutes=15)]),
        slots_key(NOW, R, [plan(timezone="Europe/Berlin")]),
        slots_key(NOW, R, [plan(name="Writing")]),
        slots_key(NOW, R, [plan("c2")]),
    ]
    assert all(v != base for v in variants)
    assert len(set(variants)) == len(variants)


def test_who_the_invitee_is_is_not_in_the_key():
    # Invite type, duration and lists matter only through the booked duration.
    exam = Restrictions(due_date=R.due_date, section_id="S1", reason_id="R1", type="Exam")
    quiz = Restrictions(
        due_date=R.due_date, section_id="S1", reason_id="R1", type="Quiz", duration_minutes=60
    )
    assert slots_key(NOW, exam, [plan()]) == slots_key(NOW, quiz, [plan()])


def test_brotli_when_accepted_at_least_as_much_as_gzip():
    assert preferred_encoding("gzip, deflate, br") == "br"  # what browsers send
    assert preferred_encoding("br") == "br"
    assert preferred_encoding("BR;q=0.5, gzip;q=0.5") == "br"
    assert preferred_encoding("*") == "br"
    assert preferred_encoding("gzip;q=0.8, *;q=0.9") == "br"
    assert preferred_encoding("br;q=0.4, gzip;q=0.8") == "gzip"


def test_gzip_when_brotli_is_refused_or_not_named():
    assert preferred_encoding("gzip, deflate") == "gzip"
    assert preferred_encoding("gzip, deflate, br;q=0") == "gzip"
    assert preferred_encoding("br;q=0, *") == "gzip"
    assert preferred_encoding("br;q=0, gzip;q=0.8, *;q=0.1") == "gzip"
    assert preferred_encoding("x-gzip") == "gzip"
    assert preferred_encoding("GZIP") == "gzip"
    assert preferred_encoding("br;q=x, gzip") == "gzip"  # a q that is no number refuses


def test_identity_without_an_accepted_coding():
    assert preferred_encoding(None) == "identity"
    assert preferred_encoding("") == "identity"
    assert preferred_encoding("identity") == "identity"
    assert preferred_encoding("deflate") == "identity"
    assert preferred_encoding("gzip;q=0, br;q=0") == "identity"
    assert preferred_encoding("deflate, *;q=0") == "identity"
    assert preferred_encoding("*, gzip;q=0, br;q=0") == "identity"
    assert preferred_encoding("gzip;q=x") == "identity"
