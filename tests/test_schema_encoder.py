"""Issue 2, items 2 and 3: schema inference and validation, and the JSON-able encoder."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlcore.encoder import MISSING_LEVEL, Encoder
from mlcore.errors import InputError, SchemaError, TableError
from mlcore.schema import Schema, infer_schema
from mlcore.validation import validate
from mlcore.table import read_table


def _frame(columns: dict[str, list], start: int = 1) -> pd.DataFrame:
    frame = pd.DataFrame(columns, dtype=object)
    frame.index = pd.RangeIndex(start, start + len(frame), name="line")
    return frame


STUDENTS = _frame({"sex": ["M", "F", "M", "F"], "units": ["39.5", "20.5", "60.0", "30.0"],
                   "state": ["oklahoma", "maryland", "nebraska", "oklahoma"],
                   "score": ["512", "584", "650", "600"],
                   "major": ["geology", "finance", "history", "finance"]})


# ---- schema inference


def test_infer_kinds_roles_and_notes():
    frame = _frame({"two": ["a", "b", "a", "b", "a", "b"],
                    "nums": ["1.5", "2.25", "3", "4", "5.5", "-1"],
                    "few_ints": ["1", "2", "3", "1", "2", "3"],
                    "zero_one": ["0", "1", "0", "1", "1", "0"],
                    "cats": ["x", "y", "z", "x", "y", "z"],
                    "const": ["k"] * 6, "empty": [None] * 6,
                    "label": ["p", "q", "r", "p", "q", "r"]})
    schema = infer_schema(frame)
    kinds = {c.name: (c.role, c.kind) for c in schema.columns}
    assert kinds == {"two": ("feature", "binary"), "nums": ("feature", "numeric"),
                     "few_ints": ("feature", "numeric"), "zero_one": ("feature", "binary"),
                     "cats": ("feature", "categorical"), "const": ("ignore", "categorical"),
                     "empty": ("ignore", "numeric"), "label": ("label", "categorical")}
    assert "could be categorical" in schema.column("few_ints").note
    assert "constant" in schema.column("const").note
    assert "empty" in schema.column("empty").note
    assert schema.label == "label"
    assert [c.name for c in schema.features] == ["two", "nums", "few_ints", "zero_one", "cats"]


def test_identifier_like_text_is_ignored():
    frame = _frame({"id": [f"user{i}" for i in range(80)],
                    "x": [str(i % 7) + ".5" for i in range(80)],
                    "y": ["a", "b"] * 40})
    assert infer_schema(frame).column("id").role == "ignore"


def test_label_defaults_to_last_and_can_be_chosen():
    assert infer_schema(STUDENTS).label == "major"
    by_name = infer_schema(STUDENTS, "sex")
    assert by_name.label == "sex" and by_name.column("major").role == "feature"
    assert infer_schema(STUDENTS, 0).label == "sex"
    with pytest.raises(SchemaError, match="no column named '2'"):  # names only; ints are
        infer_schema(STUDENTS, "2")                                 # positions
    with pytest.raises(SchemaError, match="no column named 'nope'"):
        infer_schema(STUDENTS, "nope")
    with pytest.raises(SchemaError, match="out of range"):
        infer_schema(STUDENTS, 9)


def test_digit_named_column_is_taken_by_name():
    frame = _frame({"a": ["1", "2", "3"], "1": ["x", "y", "x"], "c": ["p", "q", "p"]})
    assert infer_schema(frame, "1").label == "1"


def test_schema_edits_and_dict_round_trip():
    schema = infer_schema(STUDENTS)
    edited = schema.with_label("sex").with_column("state", role="ignore")
    assert edited.label == "sex" and edited.column("major").role == "feature"
    assert edited.column("state").role == "ignore" and schema.column("state").role == "feature"
    assert Schema.from_dict(json.loads(json.dumps(edited.to_dict()))) == edited
    with pytest.raises(SchemaError, match="exactly one label"):
        Schema([c for c in schema.columns if c.role != "label"]).label


# ---- validate


def test_validate_accepts_students():
    validate(STUDENTS, infer_schema(STUDENTS), "s.tsv")


def test_label_with_one_class_names_the_column():
    frame = _frame({"x": ["1", "2", "3"], "y": ["a", "a", "a"]})
    with pytest.raises(TableError) as caught:
        validate(frame, infer_schema(frame, "y"), "one.tsv")
    assert caught.value.column == "y"
    assert str(caught.value).startswith("one.tsv, column 'y': ")
    assert "1 class;" in str(caught.value) and "at least 2" in str(caught.value)


def test_non_number_in_numeric_column_names_line_and_column():
    table = read_table(b"units\tscore\tmajor\n1.5\t500\ta\n2.5\t5OO\tb\n3.5\t700\ta\n",
                       name="s.tsv")
    schema = infer_schema(table.frame).with_column("score", kind="numeric")
    with pytest.raises(TableError) as caught:
        validate(table.frame, schema, table.name)
    assert (caught.value.line, caught.value.column) == (3, "score")
    assert str(caught.value) == ("s.tsv, line 3, column 'score': '5OO' is not a number; make "
                                 "the column categorical or fix the value")


def test_missing_label_names_the_line():
    frame = _frame({"x": ["1", "2", "3"], "y": ["a", None, "b"]}, start=10)
    with pytest.raises(TableError, match="line 11, column 'y'"):
        validate(frame, infer_schema(frame))


def test_other_schema_problems():
    schema = infer_schema(STUDENTS)
    no_features = Schema([c if c.role == "label" else
                          type(c)(c.name, "ignore", c.kind) for c in schema.columns])
    with pytest.raises(SchemaError, match="at least one feature"):
        validate(STUDENTS, no_features)
    with pytest.raises(SchemaError, match="cannot be binary"):
        validate(STUDENTS, schema.with_column("state", kind="binary"))


# ---- encoder


def test_zscore_minmax_divisor():
    schema = infer_schema(STUDENTS)
    units = np.array([39.5, 20.5, 60.0, 30.0])
    z = Encoder.fit(STUDENTS, schema)
    assert z.scaling == "zscore"
    np.testing.assert_allclose(z.transform(STUDENTS)[:, 1], (units - units.mean()) / units.std(),
                               rtol=1e-6)
    mm = Encoder.fit(STUDENTS, schema, "minmax").transform(STUDENTS)[:, 1]
    np.testing.assert_allclose(mm, (units - 20.5) / 39.5, rtol=1e-6)
    assert mm.min() == 0.0 and mm.max() == 1.0
    div = Encoder.fit(STUDENTS, schema, "divisor")
    assert [c.scale for c in div.columns if c.kind == "numeric"] == [100.0, 1000.0]
    np.testing.assert_allclose(div.transform(STUDENTS)[:, 1], units / 100, rtol=1e-6)
    with pytest.raises(SchemaError, match="unknown scaling"):
        Encoder.fit(STUDENTS, schema, "log")


def test_divisor_matches_the_articles_on_the_students_sample(students_prepared):
    frame = students_prepared.parts["train"]
    encoder = Encoder.fit(frame, students_prepared.schema, "divisor")
    scales = {c.name: c.scale for c in encoder.columns if c.kind == "numeric"}
    assert scales == {"col1": 100.0, "col3": 1000.0}  # units / 100, test score / 1000


def test_binary_minus_one_plus_one_and_one_hot():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS), "divisor")
    assert encoder.feature_names == ["sex", "units", "state=maryland", "state=nebraska",
                                     "state=oklahoma", "score"]
    assert encoder.n_features == 6
    X = encoder.transform(STUDENTS)
    assert X.dtype == np.float32 and X.shape == (4, 6)
    assert X[:, 0].tolist() == [1.0, -1.0, 1.0, -1.0]  # F = -1, M = +1
    assert X[:, 2:5].tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert encoder.columns[0].describe() == "binary: F = -1, M = +1"
    assert encoder.class_names == ["finance", "geology", "history"]
    assert encoder.encode_labels(STUDENTS).tolist() == [1, 0, 2, 0]


def test_numeric_labels_sorted_by_value():
    frame = _frame({"x": [str(i) + ".5" for i in range(12)],
                    "y": ["10", "9", "2", "10", "9", "2"] * 2})
    assert Encoder.fit(frame, infer_schema(frame)).class_names == ["2", "9", "10"]


def test_unknown_label_class_names_the_line():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    other = STUDENTS.copy()
    other.loc[3, "major"] = "art"
    with pytest.raises(InputError, match="line 3, column 'major': class 'art'"):
        encoder.encode_labels(other)


def test_missing_values_imputed_and_counted():
    frame = _frame({"num": ["1", None, "3", "10", "2"], "cat": ["a", "b", None, "c", "a"],
                    "bin": ["u", "v", "u", None, "v"], "y": ["p", "q", "p", "q", "p"]})
    encoder = Encoder.fit(frame, infer_schema(frame), "none")
    assert encoder.missing_counts == {"num": 1, "cat": 1, "bin": 1}
    num, cat, binary = encoder.columns
    assert num.fill == 2.5  # the median of 1, 2, 3, 10
    assert cat.levels == ["a", "b", "c", MISSING_LEVEL]
    assert "1 missing filled with 2.5" in num.describe()
    X = encoder.transform(frame)
    assert X[1, 0] == 2.5
    assert X[2, 1:5].tolist() == [0, 0, 0, 1]   # the '(missing)' level
    assert X[3, 5] == 0.0                        # missing binary sits between -1 and +1


def test_all_missing_numeric_feature_does_not_give_nan():
    frame = _frame({"x": ["1", "2", "3", "4"], "e": [None] * 4, "y": ["a", "b", "a", "b"]})
    schema = infer_schema(frame).with_column("e", role="feature", kind="numeric")
    encoder = Encoder.fit(frame, schema)
    assert np.isfinite(encoder.transform(frame)).all()
    json.dumps(encoder.to_dict(), allow_nan=False)


def test_json_round_trip_gives_identical_transforms(students_prepared):
    frame = students_prepared.parts["test"]
    for scaling in ("zscore", "minmax", "divisor"):
        encoder = Encoder.fit(students_prepared.parts["train"], students_prepared.schema, scaling)
        again = Encoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
        assert again == encoder
        assert np.array_equal(again.transform(frame), encoder.transform(frame))
        assert again.feature_names == encoder.feature_names


def test_preview_shows_raw_beside_encoded():
    frame = _frame({"sex": ["F", "M", "M"], "units": ["39.5", "20.5", "60"],
                    "state": ["oklahoma", "maryland", "nebraska"],
                    "score": ["512", "584", "650"], "major": ["geology", "finance", "history"]})
    encoder = Encoder.fit(frame, infer_schema(frame), "divisor")
    preview = encoder.preview(frame)
    assert list(preview.columns) == ["raw", "encoded"]
    assert preview.index.tolist() == [1, 2, 3]
    assert preview.loc[1, "raw"] == "F  39.5  oklahoma  512  geology"
    assert preview.loc[1, "encoded"] == "-1  0.3950  0  0  1  0.5120  1"
    assert preview.loc[2, "encoded"] == "1  0.2050  1  0  0  0.5840  0"
    assert len(encoder.preview(frame, rows=2)) == 2


def test_unseen_category_error_by_default_zeros_when_asked():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    new = _frame({"sex": ["M", "X"], "units": ["30", "30"], "state": ["texas", "maryland"],
                  "score": ["600", "600"], "major": ["finance", "finance"]})
    with pytest.raises(InputError) as caught:
        encoder.transform(new)
    message = str(caught.value)
    assert message.startswith("line 2, column 'sex': 'X' was not seen in training (known: F, M)")
    assert "(and 1 more problems)" in message
    with pytest.raises(InputError, match="line 1, column 'state': 'texas' was not seen in "
                                         r"training \(known: maryland, nebraska, oklahoma\)"):
        encoder.transform(new.loc[[1]])
    X = encoder.transform(new, unknown="zeros")
    assert X[0, 2:5].tolist() == [0, 0, 0] and X[1, 0] == 0.0
    problems = encoder.check(new, unknown="zeros")
    assert {(p.row, p.column, p.severity) for p in problems} == {
        (1, "state", "warning"), (2, "sex", "warning")}
    assert all("all zeros" in p.message for p in problems)
    with pytest.raises(ValueError):
        encoder.transform(new, unknown="ignore")


def test_far_out_of_range_is_a_warning():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    new = STUDENTS.copy()
    new.loc[2, "units"] = "5000"
    problems = encoder.check(new)
    assert len(problems) == 1
    assert (problems[0].row, problems[0].column, problems[0].severity) == (2, "units", "warning")
    assert "far outside the training range 20.5 to 60" in str(problems[0])
    assert np.isfinite(encoder.transform(new)).all()  # a warning does not stop encoding


def test_missing_column_and_text_in_numeric_column():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    with pytest.raises(InputError, match="column 'score': the column is missing"):
        encoder.transform(STUDENTS.drop(columns=["score"]))
    bad = STUDENTS.copy()
    bad.loc[4, "units"] = "lots"
    with pytest.raises(InputError, match="line 4, column 'units': 'lots' is not a number"):
        encoder.transform(bad)


def test_many_problems_in_a_column_are_cut_and_the_rest_counted():
    from mlcore.encoder import MAX_PROBLEMS
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    bad = pd.concat([STUDENTS] * 650, ignore_index=True)  # 2,600 rows, all "lots" units
    bad["units"] = "lots"
    problems = encoder.check(bad)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message == f"and {len(bad) - MAX_PROBLEMS:,} more rows like these"


def test_missing_category_without_a_missing_level_is_a_warning():
    encoder = Encoder.fit(STUDENTS, infer_schema(STUDENTS))
    new = _frame({"sex": ["M"], "units": ["30"], "state": [None], "score": ["600"],
                  "major": ["finance"]})
    problems = encoder.check(new)
    assert [(p.row, p.column, p.severity) for p in problems] == [(1, "state", "warning")]
    assert "encoded as all zeros" in problems[0].message
    assert encoder.transform(new)[0, 2:5].tolist() == [0, 0, 0]


def test_datetimes_with_different_offsets_are_read_in_utc():
    from mlcore.schema import datetime_parts, infer_column
    when = pd.Series(["2024-03-01T10:00:00+02:00", "2024-03-02T10:00:00+01:00",
                      "2024-03-03T10:00:00Z", "2024-03-04T10:00:00"] * 10, name="when",
                     dtype="str")
    assert infer_column(when).kind == "datetime"
    assert datetime_parts(when)["hour"][:4].tolist() == [8.0, 9.0, 10.0, 10.0]
