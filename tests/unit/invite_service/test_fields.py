"""Field checks of directory input: emails, names, ids, lists."""

from __future__ import annotations

import pytest

from services.invite_service.domain.fields import (
    clean_email,
    clean_identifier,
    clean_lists,
    clean_multiline,
    clean_name,
)


@pytest.mark.parametrize(
    "email",
    ["ana@example.edu", "a.b+tag@sub.example.edu", "o'neil@example.edu", "x@localhost"],
)
def test_good_emails(email):
    assert clean_email(f"  {email} ") == email


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at.example.edu",
        "two@@example.edu",
        "a@b@example.edu",
        "with space@example.edu",
        "ana@example.edu\nBcc: victim@example.edu",  # header injection
        "ana@example.edu\r\nSubject: hi",
        "ana@example.edu,bob@example.edu",
        "Ana <ana@example.edu>",
        "ana@-example.edu",
        "ana.@example.edu",
        ".ana@example.edu",
        "ana@exa_mple.edu",
        "x" * 65 + "@example.edu",
        "ana@" + "a" * 250 + ".edu",
    ],
)
def test_bad_emails(email):
    with pytest.raises(ValueError):
        clean_email(email)


def test_names_are_one_line_without_control_characters():
    assert clean_name("  José  ") == "José"
    assert clean_name("Nguyễn Thị") == "Nguyễn Thị"
    for bad in [
        "",
        "   ",
        "Ana\nBob",
        "Ana\rX",
        "A\x00",
        "A\x1b[31m",
        "Ana\u2028Bob",
        "evil\u202e",
    ]:
        with pytest.raises(ValueError):
            clean_name(bad)
    with pytest.raises(ValueError):
        clean_name("x" * 101)


def test_identifiers():
    assert clean_identifier(" S0001 ") == "S0001"
    assert clean_identifier("MATH101-01") == "MATH101-01"
    for bad in ["", "a b", "a/b", "-lead", "x" * 65, "é"]:
        with pytest.raises(ValueError):
            clean_identifier(bad)


def test_lists_trimmed_deduplicated_and_without_separator():
    assert clean_lists([" Active", "Honors", "Active "]) == ["Active", "Honors"]
    with pytest.raises(ValueError):
        clean_lists(["A;B"])
    with pytest.raises(ValueError):
        clean_lists([""])
    with pytest.raises(ValueError):
        clean_lists([f"L{i}" for i in range(51)])


def test_multiline_text_keeps_newlines_but_not_control_characters():
    assert clean_multiline("line 1\r\nline 2\tend", max_length=100) == "line 1\r\nline 2\tend"
    with pytest.raises(ValueError):
        clean_multiline("bell\x07", max_length=100)
    with pytest.raises(ValueError):
        clean_multiline("x" * 101, max_length=100)
