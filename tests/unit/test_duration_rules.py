"""The duration rule matcher shared by invite_service and search_service."""

from __future__ import annotations

from dataclasses import dataclass

from shared.duration_rules import match_duration_rule, rule_matches
from shared.events import DurationRule


def rule(list_=None, type_=None, duration=None, new=90) -> DurationRule:
    return DurationRule(list=list_, type=type_, duration_minutes=duration, new_duration_minutes=new)


def test_no_rules_no_match():
    assert match_duration_rule([], ["Active"], "Exam", 60) is None


def test_all_conditions_must_hold():
    r = rule("Active", "Exam", 60)
    assert match_duration_rule([r], ["Active"], "Exam", 60) is r
    assert match_duration_rule([r], ["Other"], "Exam", 60) is None
    assert match_duration_rule([r], ["Active"], "Quiz", 60) is None
    assert match_duration_rule([r], ["Active"], "Exam", 30) is None
    assert match_duration_rule([r], [], "Exam", 60) is None


def test_null_conditions_match_anything_including_missing_values():
    anything = rule(new=45)
    assert match_duration_rule([anything], [], None, None) is anything
    by_list = rule("Accommodations")
    assert match_duration_rule([by_list], ["Active", "Accommodations"], None, None) is by_list
    by_type = rule(type_="Exam")
    assert match_duration_rule([by_type], [], "Exam", None) is by_type
    # An invite without a type cannot satisfy a rule that asks for one.
    assert match_duration_rule([by_type], [], None, 60) is None
    by_duration = rule(duration=60)
    assert match_duration_rule([by_duration], [], "Exam", None) is None


def test_first_match_wins_in_list_order():
    specific = rule("Active", "Exam", 60, new=90)
    general = rule(type_="Exam", new=75)
    catch_all = rule(new=61)
    rules = [specific, general, catch_all]
    assert match_duration_rule(rules, ["Active"], "Exam", 60) is specific
    assert match_duration_rule(rules, [], "Exam", 60) is general
    assert match_duration_rule(rules, [], "Quiz", 60) is catch_all
    # The same rules in another order: the general one shadows the specific one.
    assert match_duration_rule([general, specific], ["Active"], "Exam", 60) is general


def test_list_names_compare_exactly():
    r = rule("Active")
    assert not rule_matches(r, ["active"], None, None)
    assert rule_matches(r, ["Active"], None, None)


def test_works_with_any_rule_shaped_object():
    @dataclass
    class Row:
        list: str | None
        type: str | None
        duration_minutes: int | None
        new_duration_minutes: int

    rows = [Row(None, "Quiz", None, 20), Row("Active", None, None, 90)]
    assert match_duration_rule(rows, ["Active"], "Exam", 60) is rows[1]
    # A generator of lists is read once, safely.
    assert match_duration_rule(rows, (x for x in ["Active"]), "Exam", 60) is rows[1]
