"""What the CLI commands share about reading a table (delimiter, header, skipped lines,
comment character, encoding, NA tokens) and choosing its label (--label NAME,
--label-index N, --bins K), the read and encoding phases `train` and `search` both print,
and the `schema` command that explains every column."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .budget import size_text
from .errors import SchemaError
from .schema import Schema, class_counts, infer_schema
from .table import DELIMITERS, ReadOptions, Table, read_table
from .validation import encoded_widths

if TYPE_CHECKING:
    from .workflow import Prepared

DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "spaces": " "}


def _delimiter(text: str) -> str:
    value = DELIMITER_NAMES.get(text, text.replace("\\t", "\t"))
    if value not in DELIMITERS:
        raise argparse.ArgumentTypeError(
            f"--delimiter wants one of {', '.join(DELIMITER_NAMES)} (or the character itself)")
    return value


def add_read_options(parser: argparse.ArgumentParser) -> None:
    """--delimiter, --header/--no-header, --skip-rows, --comment, --encoding, --na."""
    group = parser.add_argument_group("reading the file (sniffed unless given)")
    group.add_argument("--delimiter", type=_delimiter,
                       help="tab, comma, semicolon, pipe or spaces (default: sniffed)")
    head = group.add_mutually_exclusive_group()
    head.add_argument("--no-header", dest="header", action="store_false", default=None)
    head.add_argument("--header", dest="header", action="store_true")
    group.add_argument("--skip-rows", type=int, default=0, metavar="N",
                       help="skip the first N lines (e.g. a count line above the header)")
    group.add_argument("--comment", metavar="CHAR",
                       help="skip lines starting with CHAR (off by default: '#' cells are data)")
    group.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1")
    group.add_argument("--na", action="append", default=[], metavar="TOKEN",
                       help="an extra missing-value token (repeatable), besides "
                            "'', NA, N/A, NaN, null, None, ? and -")


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The ReadOptions the command line asked for."""
    if args.skip_rows < 0:
        raise SchemaError("--skip-rows must be 0 or more")
    return ReadOptions(args.delimiter, args.header, args.skip_rows, args.comment or None,
                       args.encoding, tuple(args.na))


def add_label_options(parser: argparse.ArgumentParser) -> None:
    """--label NAME, --label-index N and --bins K."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--label", metavar="NAME", help="the column to predict, by name "
                                                       "(default: guessed)")
    which.add_argument("--label-index", type=int, metavar="N",
                       help="the column to predict, by 0-based position")
    parser.add_argument("--bins", type=int, default=0, metavar="K",
                        help="turn a numeric label (a price) into K quantile classes")


def label_choice(args: argparse.Namespace, frame: pd.DataFrame) -> str | int | None:
    """The label the user named (a name or a position), or None to guess it; a name that
    is no column but a number gets a pointer to --label-index."""
    if args.label_index is not None:
        return args.label_index
    if args.label is not None and args.label not in frame.columns:
        hint = (f"; to choose a column by position use --label-index {args.label}"
                if args.label.isdigit() else "")
        raise SchemaError(f"no column named '{args.label}' (columns: "
                          f"{', '.join(map(str, frame.columns))}){hint}")
    return args.label


def read_and_infer(args: argparse.Namespace, path: str) -> tuple[Table, Schema]:
    """Read `path` with the command line's options and infer its schema and label."""
    table = read_table(path, options=read_options(args))
    schema = infer_schema(table.frame, label_choice(args, table.frame), args.bins)
    return table, schema


def read_phase(args: argparse.Namespace, say) -> tuple[Table, Schema, pd.DataFrame | None]:
    """Phase 1 and 2: read the training (and test) file, infer the schema and the label."""
    say(f"Reading {args.train_file} ...")
    table, schema = read_and_infer(args, args.train_file)
    frame = table.frame
    test_frame = None
    if args.test:
        test_frame = read_table(args.test, names=None if table.has_header else list(frame.columns),
                                options=replace(table.options, header=table.has_header)).frame
    say(f"Read {table.name}: {len(frame):,} rows, {len(frame.columns)} columns "
        f"({table.delimiter_name}-separated, {'a' if table.has_header else 'no'} header)")
    for note in table.notes:
        say(f"  note: {note}")
    for c in schema.columns:
        if c.role == "ignore":
            say(f"  left out {c.name}: {c.note}")
    return table, schema, test_frame


def describe_prepared(prepared: Prepared, args: argparse.Namespace, say) -> None:
    """What the encoding phase made of the table: classes, columns, parts, first rows."""
    enc, label = prepared.encoder, prepared.schema.label
    counts = prepared.parts["train"][label].value_counts()
    say(f"Label '{label}': {len(enc.class_names)} classes ("
        + ", ".join(f"{c} {counts.get(c, 0)}" for c in enc.class_names[:12])
        + (", ..." if len(enc.class_names) > 12 else "") + ") in the training rows")
    for c in enc.columns:
        say(f"  {c.name}: {c.describe()}")
    for problem in prepared.warnings[:5]:
        say(f"  warning: {problem}")
    parts = ", ".join(f"{name} {len(rows):,}" for name, rows in prepared.parts.items())
    say(f"Rows: {parts}" + (f" (test from {Path(args.test).name})" if args.test else
                             f" (stratified split, seed {args.seed})"))
    X = prepared.arrays["train"][0]
    say(f"Encoded: {enc.n_features:,} numbers per row "
        f"({size_text(sum(a[0].nbytes for a in prepared.arrays.values()))} float32)")
    if len(X):
        say("First encoded rows:")
        for _, row in enc.preview(prepared.parts["train"], 3).iterrows():
            say(f"  {row['raw'][:60]:<40} ->  {row['encoded'][:120]}")


def describe_columns(frame: pd.DataFrame, schema: Schema) -> list[dict]:
    """One entry per column: role, kind, distinct and missing counts, encoded width, why."""
    widths = encoded_widths(frame, schema)
    return [{"name": c.name, "role": c.role, "kind": c.kind,
             "distinct": int(frame[c.name].nunique(dropna=True)),
             "missing": int(frame[c.name].isna().sum()), "width": widths.get(c.name, 0),
             "max_levels": c.max_levels, "note": c.note} for c in schema.columns]


def cmd_schema(args: argparse.Namespace, say) -> dict:
    """Explain how every column of a table would be used, without encoding anything."""
    table, schema = read_and_infer(args, args.data_file)
    frame = table.frame
    columns = describe_columns(frame, schema)
    label = schema.label
    counts = class_counts(frame, schema)
    width = sum(c["width"] for c in columns)
    say(f"{table.name}: {len(frame):,} rows × {len(frame.columns)} columns "
        f"({table.delimiter_name}-separated, {'a' if table.has_header else 'no'} header)")
    for note in table.notes:
        say(f"  note: {note}")
    say(f"Label '{label}': {len(counts)} classes (" + ", ".join(
        f"{name} {count:,}" for name, count in counts.head(10).items())
        + (", ..." if len(counts) > 10 else "") + ")")
    for c in columns:
        if c["role"] == "label":
            continue
        uses = f"{c['width']} number{'s' if c['width'] != 1 else ''}" \
            if c["role"] == "feature" else "left out"
        say(f"  {c['name']:<24} {c['role']:<8} {c['kind']:<12} {uses:<14} {c['note']}")
    matrix = len(frame) * width * 4
    say(f"Encoded: {width:,} numbers per row, a float32 matrix of {size_text(matrix)}")
    return {"file": table.name, "rows": len(frame), "delimiter": table.delimiter_name,
            "header": table.has_header, "notes": table.notes, "label": label,
            "classes": {str(name): int(count) for name, count in counts.items()},
            "columns": columns, "n_features": width, "matrix_bytes": matrix}
