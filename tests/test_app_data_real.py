"""AppTest: the Data page on real-shaped uploads (bench/tables.py): reading options, the
label guess, a price refused then binned, ids and free text left out, a sampled preview,
the memory budget; the previous dataset stays whenever a file is refused."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench.tables import GENERATORS, file_name
from test_app_data_train import ROOT, texts, upload_page

DATA_PAGE = str(ROOT / "views" / "data.py")


def generated(tmp_path: Path, name: str, rows: int = 600) -> tuple[str, bytes, dict]:
    path = tmp_path / file_name(name)
    info = GENERATORS[name](path, rows)
    return path.name, path.read_bytes(), info


def page_with(upload: tuple[str, bytes], **options) -> AppTest:
    at = AppTest.from_function(upload_page, args=(DATA_PAGE,), default_timeout=60)
    at.session_state["data_source"] = "My own file"
    at.session_state["uploads"] = {"upload_train": upload}
    for key, value in options.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def widget(elements, label: str):
    return next(e for e in elements if e.label.startswith(label))


def test_count_line_needs_skip_rows_and_reads_with_it(tmp_path):
    name, data, _ = generated(tmp_path, "count_line")
    at = page_with((name, data))
    assert any("Line 2 looks like a header" in i.value and "Skip the first N lines" in i.value
               for i in at.info)
    at = page_with((name, data), read_skip=1)
    assert not any("looks like a header" in i.value for i in at.info)
    dataset = at.session_state["dataset"]
    assert dataset.table.has_header and dataset.schema.label == "target"
    assert len(dataset.frame) == 600


def test_a_price_label_is_refused_then_binned(tmp_path):
    name, data, _ = generated(tmp_path, "price", rows=3000)
    at = page_with((name, data))
    assert at.session_state["dataset"].schema.label == "price_band"
    widget(at.selectbox, "Column to predict").select("price").run()
    assert "distinct numeric values: it looks like a number to predict" in at.error[0].value
    assert "Bin into classes" in at.error[0].value
    widget(at.number_input, "Bin into classes").set_value(4).run()
    assert not at.exception and not at.error
    schema = at.session_state["dataset"].schema
    assert schema.label == "price" and len(schema.column("price").bins) == 5
    assert "class index" in texts(at)


def test_ids_free_text_and_dates_are_explained_and_the_preview_is_sampled(tmp_path):
    name, data, _ = generated(tmp_path, "messy", rows=2000)
    at = page_with((name, data))
    schema = at.session_state["dataset"].schema
    assert schema.label == "outcome"
    assert schema.column("order_id").role == "ignore"
    assert schema.column("comment").kind == "text" and schema.column("comment").role == "ignore"
    assert schema.column("created_at").kind == "datetime"
    assert "200 of 2,000 rows, sampled at random" in texts(at)
    assert schema.column("merchant").max_levels > 0  # thousands of levels: top K + other
    assert not at.error and "numbers per row go into the network" in texts(at)


def test_fifty_thousand_distinct_strings_stay_small(tmp_path):
    name, data, _ = generated(tmp_path, "many_strings", rows=50_000)
    at = page_with((name, data))
    dataset = at.session_state["dataset"]
    assert dataset.schema.column("name").role == "ignore"  # an identifier, not 50k columns
    assert "choose at least one feature column: 'name' (" in at.error[0].value
    assert "looks like an identifier) was left out" in at.error[0].value
    kind = widget(at.selectbox, "Column to predict")
    assert kind.value == "group"


def test_quoted_newlines_and_hash_cells_are_data(tmp_path):
    name, data, info = generated(tmp_path, "quoted_newline", rows=500)
    at = page_with((name, data))
    assert len(at.session_state["dataset"].frame) == info["rows"]


def test_no_guessable_label_asks_for_one(tmp_path):
    rows = "\n".join(f"{i * 0.37:.3f},{i * 1.91:.2f},{(i * 7919) % 1000 / 7:.4f}"
                     for i in range(300))
    at = page_with(("floats.csv", ("a,b,c\n" + rows + "\n").encode()))
    assert "dataset" in at.session_state
    assert any("Choose the column to predict" in w.value for w in at.warning)
    assert at.error  # and the page says what is wrong with the stand-in label


def test_over_the_memory_budget_keeps_the_previous_table(tmp_path, monkeypatch):
    name, data, _ = generated(tmp_path, "mixed", rows=2000)
    at = page_with((name, data))
    assert at.session_state["dataset"].name == name
    monkeypatch.setenv("STUDIO_MEMORY_MB", "0.05")
    big_name, big, _ = generated(tmp_path, "wide", rows=200)
    at.session_state["uploads"] = {"upload_train": (big_name, big)}
    at.run()
    assert "over the memory budget" in at.error[0].value
    assert at.session_state["dataset"].name == name
