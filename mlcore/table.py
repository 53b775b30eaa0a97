"""Read a user's table (TSV, CSV, semicolons, runs of spaces) into a DataFrame of strings.

Rows keep their source line number as the index, so every later error can name the line.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import TableError

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", " ": "spaces"}
SNIFF_LINES = 50


@dataclass(frozen=True)
class Limits:
    """Bounds on what we accept from an untrusted file."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 200_000
    max_columns: int = 500


@dataclass
class Table:
    """A parsed table: string cells (None when missing), index = 1-based source line."""

    frame: pd.DataFrame
    name: str
    has_header: bool
    delimiter: str

    @property
    def delimiter_name(self) -> str:
        return DELIMITERS[self.delimiter]


def read_table(source: bytes | str | Path, name: str | None = None,
               header: bool | None = None, names: list[str] | None = None,
               limits: Limits = Limits(), one_column: bool = False) -> Table:
    """Parse bytes or a file path; sniff delimiter and header unless given; raise TableError.
    one_column: a single column is expected here (rows for a one-feature model)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
        except OSError as err:
            raise TableError(f"cannot open the file ({err.strerror})", name) from None
        if size > limits.max_bytes:
            raise TableError(_too_big(size, limits), name)
        data = path.read_bytes()
    else:
        data = source
    name = name or "table"
    if len(data) > limits.max_bytes:
        raise TableError(_too_big(len(data), limits), name)
    lines = _content_lines(_decode(data, name), name)
    if not lines:
        raise TableError("the file is empty (no data rows)", name)
    delimiter = _sniff_delimiter([text for _, text in lines[:SNIFF_LINES]], name, one_column)
    rows = [(number, _split(text, delimiter)) for number, text in lines]
    width = len(rows[0][1])
    if width > limits.max_columns:
        raise TableError(f"{width} columns is more than the limit of {limits.max_columns}", name, 1)
    for number, cells in rows:
        if len(cells) != width:
            raise TableError(f"expected {width} fields ({DELIMITERS[delimiter]}-separated) "
                             f"but found {len(cells)}; check for a missing or extra "
                             f"{DELIMITERS[delimiter]}", name, number)
    if header is None:
        header = names is None and _looks_like_header([cells for _, cells in rows])
    if header:
        column_names = _unique_names(rows[0][1])
        rows = rows[1:]
        if not rows:
            raise TableError("the file has a header line but no data rows", name)
    else:
        column_names = [f"col{i}" for i in range(width)]
    if names is not None:
        if len(names) != width:
            raise TableError(f"{len(names)} column names given for {width} columns", name)
        column_names = list(names)
    if len(rows) > limits.max_rows:
        raise TableError(f"{len(rows)} rows is more than the limit of {limits.max_rows}", name)
    frame = pd.DataFrame([[_cell(c) for c in cells] for _, cells in rows],
                         columns=column_names, index=[n for n, _ in rows], dtype=object)
    frame.index.name = "line"
    return Table(frame, name, header, delimiter)


def _too_big(size: int, limits: Limits) -> str:
    return (f"the file is {size / 1e6:.1f} MB, more than the limit of "
            f"{limits.max_bytes / 1e6:.0f} MB")


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise TableError(f"byte 0x{data[err.start]:02x} is not UTF-8 text; save the file "
                         "as UTF-8 (plain text)", name, line) from None


def _content_lines(text: str, name: str) -> list[tuple[int, str]]:
    """Number the lines from 1 and drop blank and '#' comment lines."""
    if "\x00" in text:
        raise TableError("the file holds binary data (NUL bytes), not a text table", name,
                         text.count("\n", 0, text.index("\x00")) + 1)
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def _split(text: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return text.split()
    return next(csv.reader([text], delimiter=delimiter, quotechar='"', skipinitialspace=True))


def _sniff_delimiter(sample: list[str], name: str, one_column: bool = False) -> str:
    """Pick the delimiter giving the same field count (>1) on every sampled line: a tab if it
    does (values may hold spaces, as in 'new york'), else the one giving most fields."""
    best: tuple[bool, int, int, str] | None = None
    for order, delimiter in enumerate(DELIMITERS):
        counts = [len(_split(line, delimiter)) for line in sample]
        if counts[0] > 1 and len(set(counts)) == 1:
            candidate = (delimiter == "\t", counts[0], -order, delimiter)
            best = max(best, candidate) if best else candidate
    if best:
        return best[-1]
    for delimiter in DELIMITERS:  # no consistent choice: pick the most common one so the
        counts = Counter(len(_split(line, delimiter)) for line in sample)  # ragged line is named
        if counts.most_common(1)[0][0] > 1:
            return delimiter
    if one_column:
        return "\t"
    raise TableError("found only one column: no tab, comma, semicolon or space separates the "
                     "values", name, 1)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row is a header if it has text where the rest of its column is numeric,
    or if it is all text whose values never recur in their columns."""
    first, rest = rows[0], rows[1:]
    if not rest:
        return all(c.strip() and not _is_number(c) for c in first)
    for j, cell in enumerate(first):
        column = [r[j] for r in rest if _cell(r[j]) is not None]
        if cell.strip() and not _is_number(cell) and column and all(map(_is_number, column)):
            return True
    if any(_is_number(c) or not c.strip() for c in first):
        return False
    return len(set(first)) == len(first) and all(
        cell not in {r[j] for r in rest} for j, cell in enumerate(first))


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for i, cell in enumerate(cells):
        base = cell.strip() or f"col{i}"
        candidate, k = base, 2
        while candidate in names:
            candidate, k = f"{base}_{k}", k + 1
        names.append(candidate)
    return names


def _cell(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in MISSING_TOKENS else text


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first)
    gets a leading apostrophe; numbers, including negative ones, stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or _is_number(value):
        return value
    return "'" + value


def frame_to_text(frame: pd.DataFrame, delimiter: str = "\t", header: bool = True) -> str:
    """Write a frame out as delimited text for a download: missing cells empty, formula
    cells (and column names) escaped, so opening it in a spreadsheet runs nothing."""
    safe = frame.map(escape_formula)
    safe.columns = [escape_formula(str(c)) for c in frame.columns]
    buffer = io.StringIO()
    safe.to_csv(buffer, sep=delimiter, header=header, index=False, lineterminator="\n")
    return buffer.getvalue()
