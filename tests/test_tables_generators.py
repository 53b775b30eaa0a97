"""bench.tables: each real-shaped table generator writes a file pandas reads back with the
rows, columns and quirks its description promises, deterministically per seed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench import tables
from bench.tables import GENERATORS

ROWS = 500


def _read(info: dict) -> pd.DataFrame:
    return pd.read_csv(info["path"], sep=info["delimiter"], skiprows=info["skip_rows"])


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, dict]:
    """Every table at ROWS rows, seed 0, written once: name -> description."""
    folder = tmp_path_factory.mktemp("tables")
    return {name: make(folder / tables.file_name(name), ROWS, 0)
            for name, make in GENERATORS.items()}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_file_reads_back_as_described(written, name):
    info = written[name]
    frame = _read(info)
    assert info["name"] == name and info["rows"] == ROWS
    assert len(frame) == ROWS
    assert list(frame.columns) == info["columns"]
    assert info["label"] in info["columns"]
    assert set(frame[info["label"]].unique()) == set(info["classes"])
    assert info["format"] == Path(info["path"]).suffix[1:]
    assert Path(info["path"]).read_bytes().decode("utf-8")  # valid UTF-8


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_bytes_other_seed_other_bytes(written, tmp_path, name):
    again = GENERATORS[name](tmp_path / "again", ROWS, 0)
    other = GENERATORS[name](tmp_path / "other", ROWS, 1)
    first = Path(written[name]["path"]).read_bytes()
    assert Path(again["path"]).read_bytes() == first
    assert Path(other["path"]).read_bytes() != first


def test_shapes_and_suffixes(written):
    assert written["mixed"]["delimiter"] == "\t" and len(written["mixed"]["columns"]) == 10
    assert tables.file_name("mixed") == "mixed.tsv"
    assert tables.file_name("messy") == "messy.csv"
    wide = written["wide"]["columns"]
    assert wide[0] == "f000" and wide[399] == "f399" and wide[400] == "target"
    assert written["price"]["label"] == "price_band" and written["price"]["decoy"] == "price"
    assert written["count_line"]["skip_rows"] == 1


def test_mixed_has_empty_na_cells(written):
    frame = _read(written["mixed"])
    assert frame["income"].isna().any() and frame["income"].dtype.kind == "f"
    assert frame["colour"].nunique() == 5 and set(frame["member"]) == {"yes", "no"}


def test_messy_ids_merchants_comments_and_na_spellings(written):
    info = written["messy"]
    frame = _read(info)
    assert frame["order_id"].is_unique and frame["order_id"].str.match(r"ORD-\d{7}$").all()
    assert pd.to_datetime(frame["created_at"], format="%Y-%m-%dT%H:%M:%S").notna().all()
    assert frame["merchant"].nunique() > 150  # Zipf over 5,000 levels
    assert frame["comment"].nunique() > 0.9 * ROWS
    assert frame["country"].nunique() > 15
    assert frame["amount"].dtype.kind == "f" and frame["amount"].isna().any()
    text = Path(info["path"]).read_text()
    assert ",NA," in text and ",null," in text and ",," in text


def test_price_is_near_unique_and_banded(written):
    frame = _read(written["price"])
    assert frame["price"].nunique() > 0.8 * ROWS
    assert set(frame["price_band"]) == {"low", "mid", "high", "top"}
    assert frame.groupby("price_band")["price"].mean().sort_values().index.tolist() == [
        "low", "mid", "high", "top"]


def test_many_strings_name_is_near_unique(written):
    frame = _read(written["many_strings"])
    assert frame["name"].nunique() > 0.95 * ROWS
    assert frame["group"].nunique() == 3


def test_count_line_first_line_and_integer_target(written):
    info = written["count_line"]
    first = Path(info["path"]).read_text().splitlines()[0]
    assert first == f"{ROWS},4,setosa,versicolor,virginica"
    frame = _read(info)
    assert frame["target"].dtype.kind == "i" and set(frame["target"]) == {0, 1, 2}


def test_quoted_newline_holds_newlines_and_hash_cells(written):
    info = written["quoted_newline"]
    text = Path(info["path"]).read_text()
    lines = text.split("\n")
    assert len(lines) > ROWS + 2  # newlines inside cells
    assert any(line.startswith("#") for line in lines)
    assert any(",\"" in line and line.count('"') % 2 == 1 for line in lines)  # opens a quote
    frame = _read(info)  # parsed as 500 rows, so every such newline sits inside quotes
    assert frame["note"].str.contains("\n").any()
    assert frame["ref"].str.startswith("#").any()


def test_chunk_boundaries_keep_rows_and_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK_ROWS", 64)
    info = tables.messy(tmp_path / "messy.csv", 300, 0)
    frame = _read(info)
    assert len(frame) == 300 and frame["order_id"].is_unique


def test_zero_rows_writes_header_only(tmp_path):
    info = tables.mixed(tmp_path / "mixed.tsv", 0)
    assert Path(info["path"]).read_text() == "\t".join(info["columns"]) + "\n"


def test_main_writes_named_files(tmp_path, capsys):
    assert tables.main([str(tmp_path), "--rows", "40", "--only", "count_line", "mixed"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["count_line", "mixed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["count_line.csv", "mixed.tsv"]
