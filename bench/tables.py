"""Deterministic generators of real-shaped tables, at real size, for tests and benchmarks.

The sample files in data/ are tiny and polite. Real uploads are not: they have hundreds of
thousands of rows, free text, ids that never repeat, thousands of categories, NA spelled
three ways, a scikit-learn count line above the header, quoted cells holding newlines, a
continuous column a careless user picks as the label. Each generator here writes one such
shape, so the engine and the pages can be tested and timed against it instead of guessed at.

Every generator is `(path, rows, seed=0) -> dict`: it writes `rows` data rows to `path`
(UTF-8, "\\n" line ends) and returns a small description (see `_describe`): name, path,
format, delimiter, rows, columns, label, classes, skip_rows, decoy (a column a careless
user might pick as the label, or None) and a one-line note.

  mixed           TSV, 10 columns: floats with empty NA cells, ints, a 5-level and a
                  20-level categorical, yes/no, label `class` (3 classes, learnable)
  messy           CSV: unique `order_id`, ISO `created_at`, Zipf `merchant` (5,000
                  levels), free-text `comment`, numbers with NA as "", "NA" and "null",
                  `country` (30 levels), label `outcome` (2 classes, learnable)
  wide            CSV: 400 numeric columns f000..f399, label `target` (4 classes)
  price           CSV, diamonds-like: near-unique float `price` (the decoy) and its
                  quartile band `price_band` (the label)
  many_strings    CSV: near-unique `name`, label `group` (3 classes)
  count_line      CSV with a scikit-learn count line before the header (skip_rows=1),
                  iris-like, label `target` coded 0/1/2
  quoted_newline  CSV whose quoted text cells hold newlines and whose first cells
                  sometimes start with "#" (data, not comments), label `label`

How: rows are made in chunks (at most CHUNK_ROWS rows, fewer for wide tables so a chunk
stays near CHUNK_CELLS cells) with numpy, each chunk from its own generator seeded by
(seed, chunk index), turned into CSV text with pyarrow compute kernels (cast to string,
quote only the cells that need it, join) and appended to the file. Memory stays bounded
by one chunk, a million `mixed` rows take a few seconds, and the same (rows, seed) always
gives the same bytes. pyarrow's own CSV writer is not used because it quotes every string
cell; real exports quote only where needed, and readers treat the two differently.

Run from the repository root:
  .venv/bin/python -m bench.tables /tmp/tables --rows 1000000
  .venv/bin/python -m bench.tables /tmp/tables --rows 50000 --only messy price --seed 3
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 200_000
CHUNK_CELLS = 2_000_000

Column = Union[np.ndarray, pa.Array]
Chunk = dict[str, Column]
ChunkMaker = Callable[[np.random.Generator, int, int], Chunk]  # (rng, first row, n)

# Fixed vocabularies: the same in every file, whatever the seed.
_COLOURS = ["red", "green", "blue", "black", "white"]
_REGIONS = [f"region_{i:02d}" for i in range(1, 21)]
_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "SE", "NO", "DK", "FI", "PL",
              "CZ", "AT", "CH", "PT", "IE", "GR", "HU", "RO", "CA", "MX", "BR", "AR", "JP",
              "KR", "IN", "AU", "NZ"]
_WORDS = ("the parcel arrived late and the box was damaged but support replied fast "
          "great price would order again colour not as shown size runs small refund "
          "requested delivery was quick item works fine battery died after a week "
          "packaging, nice; seller friendly, tracking never updated wrong item sent "
          "missing screws manual unclear five stars two stars okay-ish exactly as "
          "described cheap plastic feels sturdy gift for my son \"meh\"").split()
_SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "to", "sha", "el", "dor", "un", "bi", "zu",
              "an", "ne", "qui", "pol", "ter", "ma", "is", "ko", "ru", "sel", "fa", "jin",
              "ol", "re", "ti", "gar", "wen", "cy", "bo", "ha", "dri", "lu", "mon", "es",
              "va", "kel", "or", "ni"]
_MERCHANT_A = ["Blue", "Green", "Golden", "North", "Urban", "Happy", "Royal", "Silver",
               "Little", "Prime", "Old", "Bright", "Wild", "Lucky", "Fresh", "Metro",
               "Sunny", "Iron", "Coastal", "Smart"]
_MERCHANT_B = ["Harbor", "Oak", "River", "Peak", "Fox", "Lane", "Bridge", "Stone", "Field",
               "Bay", "Hill", "Pine", "Star", "Mill", "Garden", "Point", "Rock", "Valley",
               "Forge", "Lake", "Cedar", "Meadow", "Crown", "Bear", "Falcon"]
_MERCHANT_C = ["Market", "Goods", "Store", "Supply", "Outlet", "Traders", "Co", "Shop",
               "Depot", "Bazaar"]
_MERCHANT_NAMES = [f"{a} {b} {c}" for a in _MERCHANT_A for b in _MERCHANT_B for c in _MERCHANT_C]
_CUTS = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
_DIAMOND_COLORS = ["D", "E", "F", "G", "H", "I", "J"]
_CLARITIES = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]
_PRICE_BANDS = ["low", "mid", "high", "top"]
# Quartiles of `price` measured on 1M rows (seed 0), fixed so that every chunk agrees.
_PRICE_CUTS = np.array([1544.0, 2721.0, 4881.0])

_TRUTH = np.random.default_rng(20240305)  # the fixed "true" effects behind the labels
_MERCHANTS = [str(name) for name in _TRUTH.permutation(_MERCHANT_NAMES)]  # 5,000
_MIXED_WEIGHTS = np.array([[1.2, 0.0, -1.2], [-0.8, 0.8, 0.0], [0.0, -1.0, 1.0]])
_COLOUR_EFFECT = _TRUTH.normal(0.0, 0.8, (5, 3))
_REGION_EFFECT = _TRUTH.normal(0.0, 0.6, (20, 3))
_COUNTRY_EFFECT = _TRUTH.normal(0.0, 0.9, 30)
_WIDE_WEIGHTS = _TRUTH.normal(0.0, 1.0, (16, 4))
_WIDE_SCALE = 10.0 ** _TRUTH.uniform(-1.0, 2.0, 400)
_WIDE_SHIFT = _TRUTH.normal(0.0, 3.0, 400)


# ---------------------------------------------------------------- shared helpers


def _strings(values: Column) -> pa.Array:
    """A column as a pyarrow string array; NaN and null become null."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, from_pandas=True)
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _cells(values: Column, delimiter: str) -> pa.Array:
    """CSV cells of one column: null -> "", quoted (RFC 4180) only where needed."""
    arr = pc.fill_null(_strings(values), "")
    needs = pc.match_substring_regex(arr, f'[{re.escape(delimiter)}"\r\n]')
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def _encode(chunk: Chunk, delimiter: str) -> bytes:
    """The CSV text (one line per row, each ending in "\\n") of a chunk's columns."""
    cells = [_cells(values, delimiter) for values in chunk.values()]
    lines = pc.binary_join_element_wise(*cells, delimiter) if len(cells) > 1 else cells[0]
    if len(lines) == 0:
        return b""
    lines = pc.binary_join_element_wise(lines, "", "\n")  # line + "\n" + ""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2].slice(start, end - start).to_pybytes()


def _header(columns: list[str], delimiter: str) -> bytes:
    return (delimiter.join(columns) + "\n").encode()


def write_chunks(path: Path, rows: int, seed: int, make: ChunkMaker, *, delimiter: str = ",",
                 preamble: str = "") -> list[str]:
    """Write `rows` rows made by `make(rng, start, n)` chunk by chunk to `path`, after an
    optional preamble line and the header; return the column names.

    Chunk i uses numpy's generator seeded with (seed, i), so the bytes depend only on
    (rows, seed) and memory only on the chunk size."""
    probe = make(np.random.default_rng([seed, 0]), 0, 1)
    columns = list(probe)
    chunk_rows = max(1, min(CHUNK_ROWS, CHUNK_CELLS // len(columns)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(preamble.encode())
        out.write(_header(columns, delimiter))
        for index, start in enumerate(range(0, rows, chunk_rows)):
            n = min(chunk_rows, rows - start)
            out.write(_encode(make(np.random.default_rng([seed, index]), start, n), delimiter))
    return columns


def _describe(name: str, path: Path, rows: int, columns: list[str], label: str,
              classes: list[Any], *, delimiter: str = ",", skip_rows: int = 0,
              decoy: str | None = None, note: str = "") -> dict[str, Any]:
    return {"name": name, "path": str(path), "format": "tsv" if delimiter == "\t" else "csv",
            "delimiter": delimiter, "rows": rows, "columns": columns, "label": label,
            "classes": classes, "skip_rows": skip_rows, "decoy": decoy, "note": note}


def _pick(levels: list[str], index: np.ndarray) -> pa.Array:
    """Category names for integer codes."""
    return pa.array(levels, pa.string()).take(pa.array(index))


def _zipf_codes(rng: np.random.Generator, levels: int, n: int, a: float) -> np.ndarray:
    """n codes in [0, levels), code k drawn with probability proportional to 1/(k+1)^a."""
    weights = 1.0 / np.arange(1, levels + 1) ** a
    return np.minimum(np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n)),
                      levels - 1)


def _phrases(rng: np.random.Generator, vocabulary: list[str], n: int, low: int, high: int,
             sep: str) -> pa.Array:
    """n strings of low..high words (inclusive) drawn from vocabulary, joined by sep."""
    lengths = rng.integers(low, high + 1, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    words = _pick(vocabulary, rng.integers(0, len(vocabulary), int(offsets[-1])))
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words), sep)


def _with_na(rng: np.random.Generator, values: np.ndarray, rate: float,
             spellings: list[str]) -> pa.Array:
    """values as strings with about `rate` of the cells replaced by one of `spellings`."""
    strings = _strings(values)
    missing = rng.random(len(values)) < rate
    spelled = _pick(spellings, rng.integers(0, len(spellings), len(values)))
    return pc.if_else(pa.array(missing), spelled, strings)


def _sample_class(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One class per row, drawn from softmax(logits) (Gumbel-max): learnable, not exact."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


# ---------------------------------------------------------------- the generators


def mixed(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """TSV, 10 columns: ints, floats with empty NA cells, colour (5 levels), region (20),
    member yes/no; label `class` (alpha/beta/gamma) follows score, income, member, colour
    and region, with noise."""
    classes = ["alpha", "beta", "gamma"]

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        income = np.round(rng.lognormal(10.5, 0.5, n), 2)
        score = np.round(rng.normal(50.0, 15.0, n), 3)
        colour = rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
        region = rng.integers(0, 20, n)
        member = (rng.random(n) < 0.4).astype(np.int64)
        drivers = np.column_stack([(score - 50.0) / 15.0, (np.log(income) - 10.5) / 0.5,
                                   member - 0.4])
        logits = 1.5 * (drivers @ _MIXED_WEIGHTS + _COLOUR_EFFECT[colour]
                        + _REGION_EFFECT[region])
        label = _sample_class(rng, logits)
        return {"age": rng.integers(18, 91, n),
                "income": _with_na(rng, income, 0.04, [""]),
                "score": _with_na(rng, score, 0.02, [""]),
                "visits": rng.poisson(3.0, n),
                "balance": np.round(rng.normal(1000.0, 2500.0, n), 2),
                "ratio": _with_na(rng, np.round(rng.beta(2.0, 5.0, n), 4), 0.06, [""]),
                "colour": _pick(_COLOURS, colour),
                "region": _pick(_REGIONS, region),
                "member": _pick(["no", "yes"], member),
                "class": _pick(classes, label)}

    columns = write_chunks(path, rows, seed, make, delimiter="\t")
    return _describe("mixed", path, rows, columns, "class", classes, delimiter="\t",
                     note="numeric NA cells are empty; label learnable from the features")


def messy(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """CSV like an order export: unique order_id, ISO created_at, Zipf merchant (5,000
    levels), free-text comment (some cells quoted), amount and discount_pct with NA as "",
    "NA" and "null"; label `outcome` (kept/returned) follows amount, discount, country."""
    classes = ["kept", "returned"]

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        index = np.arange(start, start + n)
        order_id = pc.binary_join_element_wise(
            "ORD-", pc.utf8_lpad(_strings(index + 1), 7, "0"), "")
        seconds = (index * 31 + rng.integers(0, 1800, n)).astype("timedelta64[s]")
        created = pc.strftime(pa.array(np.datetime64("2023-01-01T00:00:00") + seconds),
                              format="%Y-%m-%dT%H:%M:%S")
        country = _zipf_codes(rng, len(_COUNTRIES), n, 0.8)
        amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
        discount = np.round(rng.uniform(0.0, 40.0, n) * (rng.random(n) < 0.6), 1)
        logit = (1.2 * (np.log(amount) - 3.5) + 0.08 * (discount - 12.0)
                 + _COUNTRY_EFFECT[country] - 0.5)
        returned = (rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * logit))).astype(np.int64)
        na = ["", "NA", "null"]
        return {"order_id": order_id,
                "created_at": created,
                "merchant": _pick(_MERCHANTS, _zipf_codes(rng, len(_MERCHANTS), n, 1.05)),
                "country": _pick(_COUNTRIES, country),
                "items": rng.integers(1, 11, n),
                "amount": _with_na(rng, amount, 0.05, na),
                "discount_pct": _with_na(rng, discount, 0.08, na),
                "comment": _phrases(rng, _WORDS, n, 3, 12, " "),
                "outcome": _pick(classes, returned)}

    columns = write_chunks(path, rows, seed, make)
    return _describe("messy", path, rows, columns, "outcome", classes,
                     note="order_id unique, comment near-unique; NA spelled '', NA, null")


def wide(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """CSV, 400 numeric columns f000..f399 on mixed scales; label `target` (0..3) follows
    the first 16 features."""
    width = 400

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        z = rng.standard_normal((n, width))
        target = _sample_class(rng, 0.5 * z[:, :16] @ _WIDE_WEIGHTS)
        values = np.round(z * _WIDE_SCALE + _WIDE_SHIFT, 4).T.copy()  # one row per column
        chunk: Chunk = {f"f{j:03d}": values[j] for j in range(width)}
        chunk["target"] = target
        return chunk

    columns = write_chunks(path, rows, seed, make)
    return _describe("wide", path, rows, columns, "target", [0, 1, 2, 3],
                     note="400 features; only f000..f015 carry signal")


def price(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """CSV like ggplot2's diamonds: carat, cut, color, clarity, depth, table, x, y, z, a
    near-unique float `price` and its quartile band `price_band` (the label)."""

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        carat = np.round(np.clip(rng.lognormal(-0.45, 0.55, n), 0.2, 5.01), 2)
        cut = rng.choice(5, n, p=[0.03, 0.09, 0.22, 0.26, 0.40])
        color = rng.choice(7, n, p=[0.125, 0.18, 0.177, 0.21, 0.154, 0.1, 0.054])
        clarity = rng.choice(8, n, p=[0.014, 0.17, 0.242, 0.227, 0.152, 0.094, 0.068, 0.033])
        depth = np.round(rng.normal(61.75, 1.43, n), 1)
        x = 6.45 * carat ** (1.0 / 3.0) * rng.normal(1.0, 0.01, n)
        y = x * rng.normal(1.0, 0.01, n)
        log_price = (8.35 + 1.85 * np.log(carat) + 0.06 * cut - 0.08 * color
                     + 0.12 * clarity + rng.normal(0.0, 0.12, n))
        # squashed smoothly into diamonds' range 326..18823, so no value piles up at the ends
        value = np.round(326.0 + 18497.0 * -np.expm1(-np.exp(log_price) / 18497.0), 2)
        return {"carat": carat,
                "cut": _pick(_CUTS, cut),
                "color": _pick(_DIAMOND_COLORS, color),
                "clarity": _pick(_CLARITIES, clarity),
                "depth": depth,
                "table": np.round(rng.normal(57.46, 2.23, n), 0),
                "x": np.round(x, 2),
                "y": np.round(y, 2),
                "z": np.round(x * depth / 100.0, 2),
                "price": value,
                "price_band": _pick(_PRICE_BANDS, np.searchsorted(_PRICE_CUTS, value))}

    columns = write_chunks(path, rows, seed, make)
    return _describe("price", path, rows, columns, "price_band", list(_PRICE_BANDS),
                     decoy="price",
                     note="price is continuous and near-unique: not a class label")


def many_strings(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """CSV: a near-unique made-up `name` per row (an id-like column with no signal) and a
    label `group` (A/B/C)."""
    classes = ["A", "B", "C"]

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        first = pc.utf8_capitalize(_phrases(rng, _SYLLABLES, n, 2, 3, ""))
        last = pc.utf8_capitalize(_phrases(rng, _SYLLABLES, n, 2, 4, ""))
        return {"name": pc.binary_join_element_wise(first, last, " "),
                "group": _pick(classes, rng.integers(0, 3, n))}

    columns = write_chunks(path, rows, seed, make)
    return _describe("many_strings", path, rows, columns, "group", classes,
                     note="name is near-unique (one level per row) and carries no signal")


def count_line(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """scikit-learn style CSV: a count line "N,4,setosa,versicolor,virginica", then the
    header, then iris-like rows with the label `target` coded 0/1/2 (skip_rows=1)."""
    means = np.array([[5.006, 3.428, 1.462, 0.246], [5.936, 2.770, 4.260, 1.326],
                      [6.588, 2.974, 5.552, 2.026]])
    spreads = np.array([[0.35, 0.38, 0.17, 0.11], [0.52, 0.31, 0.47, 0.20],
                        [0.64, 0.32, 0.55, 0.27]])
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        target = rng.integers(0, 3, n)
        features = np.round(np.abs(rng.normal(means[target], spreads[target])), 1)
        chunk: Chunk = {name: features[:, j].copy() for j, name in enumerate(names)}
        chunk["target"] = target
        return chunk

    columns = write_chunks(path, rows, seed, make,
                           preamble=f"{rows},4,setosa,versicolor,virginica\n")
    return _describe("count_line", path, rows, columns, "target", [0, 1, 2], skip_rows=1,
                     note="line 1 is a count line, not the header: skip_rows=1")


def quoted_newline(path: Path, rows: int, seed: int = 0) -> dict[str, Any]:
    """CSV whose `note` cells sometimes hold a newline (so are quoted) and whose first
    cells (`ref`) sometimes start with "#" (data, not comments); label `label` (no/yes)
    follows x1, x2 and whether the note is multi-line."""
    classes = ["no", "yes"]

    def make(rng: np.random.Generator, start: int, n: int) -> Chunk:
        index = np.arange(start, start + n)
        number = _strings(index + 1)
        hashed = (rng.random(n) < 0.05) | (index == 2)  # row 3 always starts with "#"
        ref = pc.if_else(pa.array(hashed), pc.binary_join_element_wise("#", number, ""),
                         pc.binary_join_element_wise("R-", number, ""))
        text = _phrases(rng, _WORDS, n, 2, 8, " ")
        more = _phrases(rng, _WORDS, n, 1, 6, " ")
        multi = (rng.random(n) < 0.1) | (index == 1)  # row 2 always holds a newline
        note = pc.if_else(pa.array(multi), pc.binary_join_element_wise(text, more, "\n"),
                          text)
        x1, x2 = np.round(rng.normal(0.0, 1.0, (2, n)), 3)
        logit = 1.5 * x1 - x2 + 0.8 * multi - 0.2
        label = (rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * logit))).astype(np.int64)
        return {"ref": ref, "note": note, "x1": x1, "x2": x2,
                "label": _pick(classes, label)}

    columns = write_chunks(path, rows, seed, make)
    return _describe("quoted_newline", path, rows, columns, "label", classes,
                     note="quoted cells hold newlines; '#...' first cells are data")


GENERATORS: dict[str, Callable[[Path, int, int], dict[str, Any]]] = {
    "mixed": mixed, "messy": messy, "wide": wide, "price": price,
    "many_strings": many_strings, "count_line": count_line,
    "quoted_newline": quoted_newline,
}
SUFFIXES: Mapping[str, str] = {"mixed": ".tsv"}  # every other table is .csv


def file_name(name: str) -> str:
    """The file name main() gives generator `name`'s table: NAME.tsv or NAME.csv."""
    return name + SUFFIXES.get(name, ".csv")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tables",
                                     description="Write real-shaped test tables.")
    parser.add_argument("outdir", type=Path, help="folder for NAME.csv / NAME.tsv")
    parser.add_argument("--rows", type=int, default=100_000, help="data rows per table")
    parser.add_argument("--only", nargs="+", choices=sorted(GENERATORS), metavar="NAME",
                        help=f"only these tables (of: {', '.join(GENERATORS)})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    for name in args.only or list(GENERATORS):
        path = args.outdir / file_name(name)
        began = time.perf_counter()
        info = GENERATORS[name](path, args.rows, args.seed)
        seconds = time.perf_counter() - began
        megabytes = path.stat().st_size / 1e6
        print(f"{name:<15} {info['rows']:>10,} rows {megabytes:9.1f} MB {seconds:7.2f} s  "
              f"{path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
