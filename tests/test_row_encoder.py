"""The one-row path (RowEncoder, Predictor.predict on a dict) against the batch path
(Encoder.transform/check on a frame): same numbers, same problems, same label."""
import random

import numpy as np
import pandas as pd
import pytest

from mlcore.encoder import Encoder
from mlcore.model import ModelConfig
from mlcore.predict import Predictor
from mlcore.row_encoder import RowEncoder, cell_text, date_parts
from mlcore.schema import datetime_parts, infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.workflow import fit, prepare


def _table_bytes(rows: int = 400, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    lines = ["units,sex,town,shop,when,grade"]
    towns = ["oslo", "rome", "lima", "", "NA"]
    for i in range(rows):
        units = "" if i % 17 == 0 else f"{rng.uniform(0, 100):.2f}"
        shop = f"s{min(int(rng.paretovariate(1.2)), 300)}"  # many levels: top-K + other
        when = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:05:00"
        lines.append(f"{units},{rng.choice('MF')},{rng.choice(towns)},{shop},{when},"
                     f"{rng.choice(['a', 'b', 'c'])}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    table = read_table(_table_bytes(), "mixed.csv")
    schema = infer_schema(table.frame, "grade").with_column("shop", max_levels=8)
    assert schema.column("when").kind == "datetime"
    run = fit(prepare(table.frame, schema), ModelConfig(hidden=(8,)), TrainConfig(epochs=2))
    return Predictor(run.bundle)


VALUES = {"units": ["12.5", " 40 ", "", "NA", "abc", "1e9", 7, 3.0, float("nan"), None, "-"],
          "sex": ["M", "F", "x", "", None, " m"],
          "town": ["oslo", "rome", "paris", "", "?", None],
          "shop": ["s1", "s2", "s250", "never", "", None],
          "when": ["2024-03-05T14:22:10", "2023-12-31", "soon", "", None, "2024-02-29 06:00",
                   "2024-03-05T23:30:00-02:00", "2024-03-01T10:00:00Z", "2024-03", "2024-3-5",
                   "2024-W10-2", "2024-02-30", "2024-03-05T14:22:10.123456"]}


def _rows(count: int = 300, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{name: rng.choice(options) for name, options in VALUES.items()}
            for _ in range(count)]


def _batch(encoder: Encoder, predictor: Predictor, row: dict, unknown: str):
    frame = predictor.to_frame([row])
    return encoder.encode(frame), [(p.column, p.message, p.severity)
                                   for p in encoder.check(frame, unknown)]


@pytest.mark.parametrize("unknown", ["error", "zeros"])
def test_row_encoder_matches_the_batch_encoder(predictor, unknown):
    encoder = predictor.encoder
    compiled = RowEncoder(encoder)
    for row in _rows():
        x, problems = compiled.encode(row, unknown)
        expected_x, expected_problems = _batch(encoder, predictor, row, unknown)
        assert sorted((p.column, p.message, p.severity) for p in problems) == \
            sorted(expected_problems), row
        if not any(p.severity == "error" for p in problems):
            np.testing.assert_allclose(x, expected_x, rtol=1e-6, atol=1e-6, err_msg=str(row))


def test_predict_on_a_dict_matches_predict_on_a_frame(predictor):
    for row in _rows(100, seed=1):
        one = predictor.predict(row, unknown="zeros", strict=False)
        many = predictor.predict([row], unknown="zeros", strict=False)
        assert one.labels == many.labels
        np.testing.assert_allclose(one.probabilities, many.probabilities, atol=1e-6)
        assert sorted(map(str, one.problems)) == sorted(map(str, many.problems))


def test_a_missing_column_is_refused_in_one_line(predictor):
    row = {k: v[0] for k, v in VALUES.items() if k != "town"}
    with pytest.raises(Exception, match="column 'town': the column is missing"):
        predictor.predict(row, strict=False)


def test_cell_text_and_date_parts_follow_the_reader():
    assert [cell_text(v) for v in (" a ", "NA", "n/a", 3.0, 2.5, None, float("nan"))] == \
        ["a", None, None, "3", "2.5", None, None]
    parts = date_parts("2024-03-05T14:22:10")
    assert parts == {"year": 2024, "month": 3, "weekday": 1, "hour": 14}
    assert all(np.isnan(v) for v in date_parts("soon").values())
    assert date_parts("2024-03-05T23:30:00-02:00") == {"year": 2024, "month": 3, "weekday": 2,
                                                       "hour": 1}  # in UTC
    frame = pd.DataFrame({"when": ["2024-03-05T14:22:10"]})
    assert {k: float(v[0]) for k, v in datetime_parts(frame["when"]).items()} == parts
