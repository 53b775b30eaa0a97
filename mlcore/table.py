"""Read a user's table (TSV, CSV, semicolons, pipes, runs of spaces) with Apache Arrow into a
DataFrame of text columns (pandas' Arrow-backed `str`, NaN when missing).

Rows keep their source line number as the index, so every later error can name the line.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .budget import check_memory, size_text
from .errors import TableError

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", " ": "spaces"}
SNIFF_RECORDS = 50
SNIFF_BYTES = 256 * 1024
READ_ADVICE = "read a sample of the rows or fewer columns"
BYTES_PER_CELL = 16  # Arrow offsets + validity + the trimmed copy's offsets, per cell


def spellings(tokens: frozenset[str] | tuple[str, ...]) -> list[str]:
    """Every upper/lower-case spelling of the missing-value tokens ('na', 'NA', 'Na', 'nA')."""
    out = set()
    for token in tokens:
        pairs = [(ch.lower(), ch.upper()) if ch.isalpha() else (ch,) for ch in token]
        out.update("".join(p) for p in itertools.product(*pairs))
    return sorted(out)


MISSING_SPELLINGS = spellings(MISSING_TOKENS)


def is_missing(text: str) -> bool:
    """The one missing-value rule for a single cell: stripped, any case, one of the tokens."""
    return text.strip().lower() in MISSING_TOKENS


@dataclass(frozen=True)
class Limits:
    """Bounds on what we accept from an untrusted file (rows are bounded by the memory
    budget, mlcore/budget.py, not by a count)."""

    max_bytes: int = 2 * 1024 ** 3
    max_columns: int = 2000


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means sniffed. skip_rows: physical lines skipped first;
    comment: lines starting with it are skipped (off by default: '#' cells are data)."""

    delimiter: str | None = None
    header: bool | None = None
    skip_rows: int = 0
    comment: str | None = None
    encoding: str = "utf-8"
    na_tokens: tuple[str, ...] = ()   # extra missing-value tokens, on top of MISSING_TOKENS


@dataclass
class Table:
    """A parsed table: text cells (NaN when missing), index = 1-based source line."""

    frame: pd.DataFrame
    name: str
    has_header: bool
    delimiter: str
    options: ReadOptions = field(default_factory=ReadOptions)
    notes: list[str] = field(default_factory=list)  # things the user may want to fix

    @property
    def delimiter_name(self) -> str:
        return DELIMITERS[self.delimiter]


def read_table(source: bytes | str | Path, name: str | None = None,
               header: bool | None = None, names: list[str] | None = None,
               limits: Limits = Limits(), one_column: bool = False,
               options: ReadOptions = ReadOptions()) -> Table:
    """Parse bytes or a file path with Arrow; sniff the delimiter and header unless `options`
    (or `header`) give them; raise TableError naming the file, line and column.
    one_column: a single column is expected here (rows for a one-feature model)."""
    data, name = _load(source, name, limits)
    data = _blanked(_to_utf8(data, options.encoding, name), options)
    starts, lines = _records(data)
    if not len(starts):
        raise TableError("the file is empty (no data rows)", name)
    head = [_split_records(data, starts, lines, i) for i in range(min(len(starts), SNIFF_RECORDS))]
    delimiter = options.delimiter or _sniff_delimiter(head, name, one_column)
    rows = [_fields(text, delimiter) for text in head]
    width = len(rows[0])
    if width > limits.max_columns:
        raise TableError(f"{width} columns is more than the limit of {limits.max_columns}", name, 1)
    header = options.header if header is None else header
    notes = []
    if header is None:
        header = names is None and _looks_like_header(rows)
        if not header and names is None and len(rows) > 2 and _looks_like_header(rows[1:]):
            notes.append(f"line {int(lines[1])} looks like a header: if the lines above it "
                         "are a title or a count, skip them (--skip-rows, or 'Skip the first "
                         "N lines' on the Data page)")
    columns = _unique_names(rows[0]) if header else [f"col{i}" for i in range(width)]
    if names is not None:
        if len(names) != width:
            raise TableError(f"{len(names)} column names given for {width} columns", name)
        columns = list(names)
    first = 1 if header else 0
    if first >= len(starts):
        raise TableError("the file has a header line but no data rows", name)
    start = int(starts[first])
    check_memory(2 * (len(data) - start) + (len(starts) - first) * width * BYTES_PER_CELL,
                 f"reading {name} ({len(starts) - first:,} rows × {width} columns)",
                 READ_ADVICE)
    missing = spellings(MISSING_TOKENS | {t.strip().lower() for t in options.na_tokens})
    arrow = _parse(data, start, columns, delimiter, name, int(lines[first]), missing)
    frame = _clean(arrow, missing).to_pandas()
    if frame.shape[1] != len(columns):  # duplicate names given through `names`
        raise TableError("the column names are not unique", name)
    data_lines = lines[first:]
    frame.index = pd.Index(data_lines if len(data_lines) == len(frame) else
                           np.arange(1, len(frame) + 1), name="line" if
                           len(data_lines) == len(frame) else "row")
    return Table(frame, name, header, delimiter, options, notes)


def _load(source: bytes | str | Path, name: str | None, limits: Limits) -> tuple[bytes, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise TableError(_too_big(size, limits), name)
            check_memory(2 * size, f"reading {name} ({size_text(size)})", READ_ADVICE)
            return path.read_bytes(), name
        except OSError as err:
            raise TableError(f"cannot open the file ({err.strerror})", name) from None
    name = name or "table"
    if len(source) > limits.max_bytes:
        raise TableError(_too_big(len(source), limits), name)
    return bytes(source), name


def _too_big(size: int, limits: Limits) -> str:
    return f"the file is {size_text(size)}, more than the limit of {size_text(limits.max_bytes)}"


def _to_utf8(data: bytes, encoding: str, name: str) -> bytes:
    """UTF-8 bytes without a BOM; a bad byte is named with its line; no NUL bytes."""
    if _codec(encoding, name) != "utf-8":
        try:
            data = data.decode(encoding).encode("utf-8")
        except UnicodeDecodeError as err:
            raise TableError(f"byte 0x{data[err.start]:02x} is not {encoding} text; choose the "
                             "file's encoding", name, data.count(b"\n", 0, err.start) + 1) from None
    else:
        _check_utf8(data, name)
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    if b"\x00" in data:
        raise TableError("the file holds binary data (NUL bytes), not a text table", name,
                         data.count(b"\n", 0, data.index(b"\x00")) + 1)
    return data


def _codec(encoding: str, name: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise TableError(f"unknown text encoding '{encoding}'", name) from None


def _check_utf8(data: bytes, name: str, chunk: int = 1 << 20) -> None:
    """Validate UTF-8 a chunk at a time (no copy of the whole file as text)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start:start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as err:
            at = start - pending + err.start
            raise TableError(f"byte 0x{data[at]:02x} is not UTF-8 text; save the file as UTF-8 "
                             "(plain text) or choose its encoding", name,
                             data.count(b"\n", 0, at) + 1) from None


def _blanked(data: bytes, options: ReadOptions) -> bytes:
    """Skipped lines, whitespace-only lines and (when a comment character is set) comment
    lines emptied, keeping their newlines so that line numbers still hold."""
    if options.skip_rows:
        cut = 0
        for _ in range(options.skip_rows):
            cut = data.find(b"\n", cut) + 1
            if cut == 0:
                cut = len(data)
                break
        data = b"\n" * data.count(b"\n", 0, cut) + data[cut:]
    patterns = []
    if data[:1].isspace() or re.search(rb"\n[ \t\r\f\v]", data):  # one quick scan first
        patterns.append(rb"(?m)^[ \t\r\f\v]+$")  # a line may be blank: find them
    if options.comment:
        patterns.append(rb"(?m)^[ \t]*" + re.escape(options.comment.encode()) + rb"[^\n\r]*")
    for pattern in patterns:
        if re.search(pattern, data):
            data = re.sub(pattern, b"", data)
    return data


def _records(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and first line number of every non-empty record; a newline inside a
    quoted value (an odd number of quotes before it) does not end a record."""
    buf = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines
    if b'"' in data:
        quotes = np.flatnonzero(buf == 34)
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], ends + 1))
    length = np.concatenate((ends, [len(buf)])) - starts
    first = buf[np.minimum(starts, max(len(buf) - 1, 0))] if len(buf) else np.zeros(1, np.uint8)
    keep = (length > 1) | ((length == 1) & (first != 13))
    return starts[keep], np.searchsorted(newlines, starts[keep]) + 1


def _split_records(data: bytes, starts: np.ndarray, lines: np.ndarray, i: int) -> str:
    end = int(starts[i + 1]) if i + 1 < len(starts) else len(data)
    return data[int(starts[i]):end].decode("utf-8").rstrip("\r\n")


def _fields(text: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return text.split()
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'),
                [""])


def _sniff_delimiter(sample: list[str], name: str, one_column: bool = False) -> str:
    """Pick the delimiter giving the same field count (>1) on every sampled record: a tab if
    it does (values may hold spaces, as in 'new york'), else the one giving most fields."""
    best: tuple[bool, int, int, str] | None = None
    for order, delimiter in enumerate(DELIMITERS):
        counts = [len(_fields(text, delimiter)) for text in sample]
        if counts[0] > 1 and len(set(counts)) == 1:
            candidate = (delimiter == "\t", counts[0], -order, delimiter)
            best = max(best, candidate) if best else candidate
    if best:
        return best[-1]
    for delimiter in DELIMITERS:  # no consistent choice: the most common one, so the
        counts = Counter(len(_fields(text, delimiter)) for text in sample)  # ragged line is named
        if counts.most_common(1)[0][0] > 1:
            return delimiter
    if one_column:
        return "\t"
    raise TableError("found only one column: no tab, comma, semicolon or space separates the "
                     "values (choose the delimiter if it is another character)", name, 1)


def _parse(data: bytes, start: int, columns: list[str], delimiter: str, name: str,
           first_line: int, missing: list[str]) -> pa.Table:
    """Arrow's multithreaded CSV reader on data[start:] (no copy), every column as text,
    the exact missing tokens already null; a ragged row is named by its line."""
    if delimiter == " ":  # runs of spaces (and tabs): one space between fields, none at the ends
        data = re.sub(rb"[ \t]+", b" ", re.sub(rb"(?m)^[ \t]+|[ \t]+(?=\r?$)", b"", data[start:]))
        start = 0
    bad: list = []

    def invalid(row) -> str:
        bad.append(row)
        return "error"

    try:
        return pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(start)),
            read_options=pcsv.ReadOptions(column_names=columns),
            parse_options=pcsv.ParseOptions(delimiter=delimiter,
                                            newlines_in_values=data.find(b'"', start) >= 0,
                                            invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in columns}, null_values=missing,
                strings_can_be_null=True, quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, ValueError) as err:
        if bad:
            row, kind = bad[0], DELIMITERS[delimiter]
            at = data.find(row.text.encode(), start) if row.text else -1
            line = first_line + data.count(b"\n", start, at) if at >= 0 else None
            raise TableError(f"expected {row.expected_columns} fields ({kind}-separated) but "
                             f"found {row.actual_columns}; check for a missing or extra {kind}",
                             name, line) from None
        message = str(err).splitlines()[0].removeprefix("CSV parse error: ")
        raise TableError(f"cannot parse the file ({message})", name) from None


def clean_cells(column: pa.Array | pa.ChunkedArray, missing: list[str] = MISSING_SPELLINGS
                ) -> pa.Array | pa.ChunkedArray:
    """Trim every cell and turn the missing-value tokens (`missing`: every spelling, see
    spellings()) into nulls: the vectorised form of is_missing, for whole columns."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.is_in(trimmed, value_set=pa.array(missing, pa.string())),
                      pa.scalar(None, pa.string()), trimmed)


def _clean(table: pa.Table, missing: list[str]) -> pa.Table:
    """Trim every column; where that changed a cell, null the tokens it uncovered (the
    parser has nulled the exact ones already). A column per core: Arrow releases the GIL."""
    def clean(column: pa.ChunkedArray) -> pa.ChunkedArray:
        trimmed = pc.utf8_trim_whitespace(column)
        if pc.all(pc.equal(pc.binary_length(trimmed), pc.binary_length(column))).as_py() \
                is not False:
            return column
        return pc.if_else(pc.is_in(trimmed, value_set=pa.array(missing, pa.string())),
                          pa.scalar(None, pa.string()), trimmed)

    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8)) as pool:
        columns = list(pool.map(clean, table.columns))
    return pa.table(columns, names=table.column_names)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row is a header if it has text where the rest of its column is numeric,
    or if it is all text whose values never recur in their columns."""
    first, rest = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if not rest:
        return all(c.strip() and not _is_number(c) for c in first)
    for j, cell in enumerate(first):
        column = [r[j] for r in rest if not is_missing(r[j])]
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
