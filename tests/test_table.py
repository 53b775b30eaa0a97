"""Issue 2, item 1: reading any reasonable table, and one-line TableErrors for bad ones."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import DATA
from mlcore.errors import LimitError, TableError
from mlcore.table import Limits, ReadOptions, frame_to_text, read_table

COMMENTS = ReadOptions(comment="#")

ROWS = [["M", "39.5", "oklahoma", "512", "geology"],
        ["F", "20.5", "maryland", "584", "finance"],
        ["F", "60.0", "nebraska", "650", "history"]]


def _text(delimiter: str, header: bool = False) -> bytes:
    lines = ([delimiter.join(["sex", "units", "state", "score", "major"])] if header else [])
    lines += [delimiter.join(row) for row in ROWS]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("delimiter, name", [("\t", "tab"), (",", "comma"),
                                             (";", "semicolon"), ("|", "pipe")])
@pytest.mark.parametrize("header", [False, True])
def test_delimiters_and_header(delimiter, name, header):
    table = read_table(_text(delimiter, header), name="t.txt")
    assert table.delimiter == delimiter and table.delimiter_name == name
    assert table.has_header is header
    assert table.frame.values.tolist() == ROWS
    expected = ["sex", "units", "state", "score", "major"] if header else \
        [f"col{i}" for i in range(5)]
    assert list(table.frame.columns) == expected
    assert table.frame.index.name == "line"
    assert table.frame.index.tolist() == ([2, 3, 4] if header else [1, 2, 3])


def test_runs_of_spaces_as_in_the_articles():
    table = read_table(b"M   39.5  oklahoma   512  geology\nF 20.5\tmaryland 584 finance\n"
                       b"  F  60.0  nebraska  650  history  \n")
    assert table.delimiter == " "
    assert table.frame.values.tolist() == ROWS


def test_tabs_win_over_spaces_inside_values():
    table = read_table(b"M\t39.5\tnew york\t512\tgeology\nF\t20.5\tnew mexico\t600\thistory\n")
    assert table.delimiter == "\t"
    assert table.frame["col2"].tolist() == ["new york", "new mexico"]


def test_students_sample_has_no_header():
    table = read_table(DATA / "students_train.tsv")
    assert table.name == "students_train.tsv"
    assert not table.has_header and table.delimiter == "\t"
    assert table.frame.shape == (200, 5)
    first = (DATA / "students_train.tsv").read_text().splitlines()[0].split("\t")
    assert table.frame.iloc[0].tolist() == first and table.frame.index[0] == 1


def test_header_file_from_path(tmp_path):
    path = tmp_path / "with_header.csv"
    path.write_bytes(_text(",", header=True))
    table = read_table(path)
    assert table.has_header and table.name == "with_header.csv"
    assert list(table.frame.columns) == ["sex", "units", "state", "score", "major"]


def test_all_text_header_over_all_text_rows():
    table = read_table(b"color\tshape\nred\tround\nblue\tsquare\nred\tsquare\n")
    assert table.has_header and list(table.frame.columns) == ["color", "shape"]
    assert len(table.frame) == 3


def test_header_can_be_forced_either_way_and_names_given():
    no = read_table(_text(",", header=True), header=False)
    assert not no.has_header and no.frame.iloc[0, 0] == "sex" and len(no.frame) == 4
    named = read_table(_text(","), names=list("abcde"))
    assert list(named.frame.columns) == list("abcde") and len(named.frame) == 3


def test_comments_blank_lines_bom_crlf_keep_line_numbers():
    data = ("\ufeff# students, as in the article\r\n\r\nM\t39.5\toklahoma\t512\tgeology\r\n"
            "   # an indented comment\r\n\r\nF\t20.5\tmaryland\t584\tfinance\r\n"
            "F\t60.0\tnebraska\t650\thistory\r\n\r\n").encode()
    table = read_table(data, options=COMMENTS)
    assert table.frame.values.tolist() == ROWS
    assert table.frame.index.tolist() == [3, 6, 7]
    assert not table.frame.iloc[0, 0].startswith("\ufeff")


def test_bom_before_header():
    table = read_table(b"\xef\xbb\xbf" + _text(",", header=True))
    assert table.has_header and table.frame.columns[0] == "sex"


def test_quotes_with_embedded_delimiters():
    data = b'name,city,score\n"Smith, J",NYC,3\nDoe,"Los Angeles, CA",4\n"Say ""hi""",Rome,5\n'
    table = read_table(data)
    assert table.delimiter == ","
    assert table.frame["name"].tolist() == ["Smith, J", "Doe", 'Say "hi"']
    assert table.frame["city"].tolist() == ["NYC", "Los Angeles, CA", "Rome"]
    tsv = read_table(b'a\tb\n"x\ty"\t1\nz\t2\n')
    assert tsv.frame["a"].tolist() == ["x\ty", "z"]


def test_missing_tokens_become_none_and_cells_are_stripped():
    table = read_table(b"a,b,c\n1, NA ,x\n2,?,\n3,4,null\n")
    assert table.frame["b"].isna().tolist() == [True, True, False]
    assert table.frame["c"].isna().tolist() == [False, True, True]
    assert table.frame["b"].iloc[2] == "4" and table.frame["c"].iloc[0] == "x"


def test_duplicate_header_names_made_unique():
    table = read_table(b"x,x,label\n1,2,a\n3,4,b\n")
    assert list(table.frame.columns) == ["x", "x_2", "label"]


def test_frame_to_text_round_trip():
    table = read_table(_text("\t", header=True))
    again = read_table(frame_to_text(table.frame).encode())
    assert again.frame.values.tolist() == table.frame.values.tolist()
    assert list(again.frame.columns) == list(table.frame.columns)


# ---- bad input: one TableError whose message names file, line and column where known


def _error(data: bytes, **kwargs) -> TableError:
    with pytest.raises(TableError) as caught:
        read_table(data, name="bad.tsv", **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("bad.tsv")
    return caught.value


def test_ragged_row_names_its_line():
    err = _error(b"# header comment\nM\t39.5\tok\t512\tgeology\n\nF\t20.5\tmd\t584\n"
                 b"F\t60\tne\t650\thistory\n", options=COMMENTS)
    assert err.line == 4 and "line 4" in str(err)
    assert "expected 5 fields" in str(err) and "found 4" in str(err) and "tab" in str(err)


def test_ragged_row_beyond_the_sniffed_lines():
    lines = [b"1,2,y"] * 60 + [b"1,2,3,y"]
    err = _error(b"\n".join(lines))
    assert err.line == 61 and "found 4" in str(err)


def test_ragged_row_from_a_path_names_the_file(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(TableError, match=r"^ragged\.csv, line 3: "):
        read_table(path)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"# only\n# comments\n\n"])
def test_empty_or_comments_only(data):
    assert "empty" in str(_error(data, options=COMMENTS))


def test_header_only():
    assert "header line but no data rows" in str(_error(b"sex\tunits\tmajor\n"))


def test_undecodable_bytes_name_the_line():
    err = _error(b"a,b\n1,2\n\xff\xfe,3\n")
    assert err.line == 3 and "0xff" in str(err) and "UTF-8" in str(err)


def test_nul_bytes_name_file_and_line():
    err = _error(b"a\tb\n1\t2\n3\t\x004\n")
    assert "NUL" in str(err) and err.line == 3


def test_one_column_only():
    assert "only one column" in str(_error(b"a\nb\nc\n"))


def test_missing_file(tmp_path):
    with pytest.raises(TableError, match="nope.tsv: cannot open"):
        read_table(tmp_path / "nope.tsv")


def test_too_many_columns():
    err = _error(b"1,2,3,4,x\n5,6,7,8,y\n", limits=Limits(max_columns=4))
    assert err.line == 1 and "5 columns" in str(err) and "limit of 4" in str(err)


def test_rows_are_bounded_by_the_memory_budget_not_a_count(monkeypatch):
    data = b"".join(b"%d,x\n" % i for i in range(20_000))
    assert len(read_table(data).frame) == 20_000
    monkeypatch.setenv("STUDIO_MEMORY_MB", "0.5")
    with pytest.raises(LimitError, match=r"^reading t.csv \(20,000 rows × 2 columns\) needs "
                                         r"about .* over the memory budget of 512 kB"):
        read_table(data, name="t.csv")


def test_too_many_bytes(tmp_path):
    data = b"1,x\n" * 100
    assert "the file is 400 B, more than the limit of 100 B" in str(_error(data, limits=Limits(max_bytes=100)))
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    with pytest.raises(TableError, match="^big.csv: the file is"):
        read_table(path, limits=Limits(max_bytes=100))


def test_wrong_number_of_names():
    assert "3 column names given for 5 columns" in str(_error(_text("\t"), names=["a", "b", "c"]))


def test_downloads_escape_formula_cells_but_not_numbers():
    frame = pd.DataFrame({"=name": ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "@SUM(A1)",
                                    "-2+3", "\tx", "plain"],
                          "n": ["-1.5", "+3", "-", "1e-6", None, "7"]})
    text = frame_to_text(frame, ",")
    lines = text.splitlines()
    assert lines[0] == "'=name,n"
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[1].endswith(",-1.5")
    assert lines[2] == "'+1+2,+3" and lines[3] == "'@SUM(A1),'-"
    assert lines[4] == "'-2+3,1e-6" and lines[5] == "'\tx," and lines[6] == "plain,7"


def test_one_column_rows_are_read_when_expected():
    table = read_table(b"x\n0.3\n-1\n", "rows.csv", one_column=True)
    assert list(table.frame.columns) == ["x"] and table.frame["x"].tolist() == ["0.3", "-1"]
    with pytest.raises(TableError, match="found only one column"):
        read_table(b"x\n0.3\n-1\n", "rows.csv")
