"""Student imports: CSV parsing, row numbers, per-row errors, all or nothing."""

from __future__ import annotations

from services.invite_service.domain.directory import parse_students_csv, validate_rows

HEADER = "student_id,first_name,last_name,email,lists\n"


def test_good_csv_with_lists_and_bom():
    text = (
        "\ufeff" + HEADER + "S1,Ana,Lima,ana@example.edu,Active; Honors\nS2,Bo,Li,bo@example.edu,\n"
    )
    rows, errors = parse_students_csv(text)
    assert errors == []
    students, errors = validate_rows(rows)
    assert errors == []
    assert [s.student_id for s in students] == ["S1", "S2"]
    assert students[0].lists == ["Active", "Honors"]
    assert students[1].lists == []


def test_rows_are_numbered_from_one_after_the_header():
    text = (
        HEADER + "S1,Ana,Lima,ana@example.edu,\n\nS2,Bo,Li,not-an-email,\nS3,,Li,c@example.edu,\n"
    )
    rows, errors = parse_students_csv(text)
    assert errors == []
    _, errors = validate_rows(rows)
    assert {(e["row"], e["field"]) for e in errors} == {(3, "email"), (4, "first_name")}


def test_header_problems():
    _, errors = parse_students_csv("id,name\n1,a\n")
    assert errors[0]["row"] == 0 and errors[0]["field"] == "header"
    assert "missing column(s) student_id" in errors[0]["message"]
    _, errors = parse_students_csv("")
    assert errors[0]["field"] == "header"
    # lists is optional; column order is free.
    rows, errors = parse_students_csv("email,student_id,last_name,first_name\na@x.edu,S1,L,F\n")
    assert errors == [] and validate_rows(rows)[0][0].email == "a@x.edu"


def test_wrong_number_of_values_and_duplicates():
    text = HEADER + "S1,Ana,Lima,ana@example.edu,\nS2,Bo\nS1,Ana,Again,a2@example.edu,\n"
    rows, errors = parse_students_csv(text)
    assert errors == [{"row": 2, "field": "row", "message": "has 2 values, the header has 5"}]
    _, row_errors = validate_rows(rows)
    assert row_errors[0]["row"] == 3 and "already on row 1" in row_errors[0]["message"]


def test_injection_attempts_in_quoted_cells_are_row_errors():
    text = HEADER + 'S1,"Ana\nBcc: x@evil.test",Lima,ana@example.edu,\n'
    rows, errors = parse_students_csv(text)
    _, row_errors = validate_rows(rows)
    assert [e["field"] for e in errors + row_errors] == ["first_name"]


def test_json_items_that_are_not_objects():
    students, errors = validate_rows([(1, "S1"), (2, {"student_id": "S2"})])
    assert students == []
    assert {(e["row"], e["field"]) for e in errors} == {
        (1, "row"),
        (2, "first_name"),
        (2, "last_name"),
        (2, "email"),
    }
    _, errors = validate_rows(
        [(1, {"student_id": "S1", "first_name": "A", "last_name": "B", "email": "a@x.edu", "x": 1})]
    )
    assert errors[0]["field"] == "x"
