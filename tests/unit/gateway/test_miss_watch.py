"""Which addresses a gateway copy checks against the database for link guessing."""

from __future__ import annotations

from services.gateway.proxy import MissWatch

WINDOW = 60.0


def test_an_address_without_misses_goes_through_unasked() -> None:
    watch = MissWatch()
    assert watch.wait("a", 0.0) == 0


def test_an_address_that_missed_is_asked_about_until_the_window_ends() -> None:
    watch = MissWatch()
    watch.missed("a", 10.0, WINDOW)
    assert watch.wait("a", 10.5) is None
    assert watch.wait("a", 69.9) is None
    assert watch.wait("b", 11.0) == 0  # others are not affected
    assert watch.wait("a", 70.0) == 0  # a minute without misses here: unwatched again
    assert watch.wait("a", 71.0) == 0


def test_a_refusal_is_remembered_until_the_time_given() -> None:
    watch = MissWatch()
    watch.missed("a", 0.0, WINDOW, refuse_for=30)
    assert watch.wait("a", 1.0) == 29
    assert watch.wait("a", 29.5) == 1
    assert watch.wait("a", 30.0) is None  # free by now? the database says
    watch.refused("a", 30.0, 45, WINDOW)
    assert watch.wait("a", 31.0) == 44
    assert watch.wait("a", 74.0) == 1
    # Other copies' misses may be as late as the refusal: watched a window on.
    assert watch.wait("a", 75.0) is None
    assert watch.wait("a", 89.9) is None
    assert watch.wait("a", 90.0) == 0


def test_a_refusal_of_an_unwatched_address_is_not_kept() -> None:
    watch = MissWatch()
    watch.refused("a", 0.0, 30, WINDOW)
    assert watch.wait("a", 1.0) == 0


def test_past_its_size_every_address_is_asked_about() -> None:
    watch = MissWatch(max_watched=2)
    watch.missed("a", 0.0, WINDOW)
    watch.missed("b", 0.0, WINDOW)
    watch.missed("c", 1.0, WINDOW)  # no room: from now on nobody goes unasked
    assert watch.wait("c", 2.0) is None
    assert watch.wait("d", 2.0) is None
    assert watch.wait("a", 2.0) is None
    # Once the old entries have expired there is room again.
    watch.missed("c", 61.0, WINDOW)
    assert watch.wait("c", 62.0) is None
    assert watch.wait("d", 62.0) == 0
