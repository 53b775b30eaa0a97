"""Issue 2, item 4: stratified, seeded splits (and the validation part in prepare)."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import DATA
from mlcore.errors import SchemaError
from mlcore.schema import infer_schema
from mlcore.split import stratified_split
from mlcore.table import read_table
from mlcore.workflow import prepare


@pytest.fixture(scope="module")
def blobs() -> pd.DataFrame:
    return read_table(DATA / "blobs.tsv").frame


def test_fraction_held_out_per_class(blobs):
    rest, held = stratified_split(blobs, "col2", 0.2, seed=1)
    counts, held_counts = blobs["col2"].value_counts(), held["col2"].value_counts()
    for cls, n in counts.items():
        assert held_counts[cls] == round(n * 0.2)
    assert len(rest) + len(held) == len(blobs)


def test_index_line_numbers_preserved_and_disjoint(blobs):
    rest, held = stratified_split(blobs, "col2", 0.25, seed=3)
    assert set(rest.index).isdisjoint(held.index)
    assert set(rest.index) | set(held.index) == set(blobs.index)
    assert held.index.name == "line"
    for line in held.index[:20]:
        assert held.loc[line].tolist() == blobs.loc[line].tolist()
    assert list(rest.index) == sorted(rest.index)  # file order kept


def test_same_seed_same_split_other_seed_other_split(blobs):
    _, a = stratified_split(blobs, "col2", 0.2, seed=7)
    _, b = stratified_split(blobs, "col2", 0.2, seed=7)
    _, c = stratified_split(blobs, "col2", 0.2, seed=8)
    assert a.index.tolist() == b.index.tolist()
    assert set(a.index) != set(c.index)


def test_small_classes_keep_a_row_on_each_side():
    frame = pd.DataFrame({"x": list("abcdefg"), "y": ["p"] * 5 + ["q", "q"]}, dtype=object)
    rest, held = stratified_split(frame, "y", 0.1)
    assert set(rest["y"]) == {"p", "q"} and set(held["y"]) == {"p", "q"}


def test_bad_fraction_and_too_few_rows():
    frame = pd.DataFrame({"x": ["1", "2"], "y": ["p", "q"]}, dtype=object)
    for fraction in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(SchemaError, match="between 0 and 1"):
            stratified_split(frame, "y", fraction)
    with pytest.raises(SchemaError, match="too few rows"):
        stratified_split(frame, "y", 0.2)


def test_prepare_default_split_and_validation(blobs):
    schema = infer_schema(blobs)
    prepared = prepare(blobs, schema, validation_fraction=0.1, seed=2)
    sizes = {name: len(rows) for name, rows in prepared.parts.items()}
    assert sizes == {"train": 720, "validation": 80, "test": 200}
    lines = [set(rows.index) for rows in prepared.parts.values()]
    assert sum(map(len, lines)) == len(blobs) and len(set.union(*lines)) == len(blobs)
    data = prepared.train_data()
    assert data.eval_name == "validation" and data.X.shape == (720, 2)
    assert prepare(blobs, schema).train_data().eval_name == "test"


def test_encoder_is_fitted_on_training_rows_only(blobs):
    schema = infer_schema(blobs)
    prepared = prepare(blobs, schema, seed=4)
    train_x = pd.to_numeric(prepared.parts["train"]["col0"]).astype(float)
    column = prepared.encoder.columns[0]
    assert column.center == pytest.approx(train_x.mean())
    assert (column.low, column.high) == (train_x.min(), train_x.max())


def test_given_test_file_is_used_as_is(students_prepared):
    assert len(students_prepared.parts["train"]) == 200
    assert len(students_prepared.parts["test"]) == 40
    assert students_prepared.parts["test"].index.tolist() == list(range(1, 41))
