"""Data page: bring a table (a sample or an upload), choose the label, check the encoding."""
import pandas as pd
import streamlit as st

from mlcore import plots
from mlcore.budget import memory_budget, size_text
from mlcore.encoder import SCALINGS
from mlcore.errors import StudioError
from mlcore.samples import SAMPLES
from mlcore.schema import (KINDS, MAX_CLASSES, ColumnSpec, Schema, class_counts, draft_schema,
                           quantile_bins, with_bins)
from mlcore.table import DELIMITERS, ReadOptions
from mlcore.validation import check_encoding_size, encoded_widths, validate
from ui import state, workspace
from ui.display import show_table

SCALING_HELP = {"zscore": "z-score: (x - mean) / std", "minmax": "min-max: to 0..1",
                "divisor": "divide by a power of ten (the articles' units/100, score/1000)",
                "none": "leave numbers as they are"}
PREVIEW_ROWS = 200   # sampled rows shown; the table itself is never drawn or encoded whole
TYPES = ["tsv", "csv", "txt", "tab", "dat"]

st.title("Data")
st.caption("Step 1 of 5 · Bring a table, choose the column to predict, and see how every "
           "column will be turned into numbers.")


def load(name: str, data: bytes, test: tuple[str, bytes] | None = None,
         names: tuple[str, ...] | None = None, sample: str | None = None,
         label: str | None = None, options: ReadOptions = ReadOptions()) -> None:
    """Parse and adopt a new dataset; on any problem show it and keep the old one."""
    try:
        with st.spinner(f"Reading {name}…"):
            table = state.parse_table(data, name, names, options)
            test_table = state.parse_table(test[1], test[0], names or (
                None if table.has_header else tuple(table.frame.columns)),
                options) if test else None
        with st.spinner(f"Looking at the {len(table.frame.columns)} columns…"):
            schema, problem = draft_schema(table.frame, label)
    except StudioError as err:
        st.session_state["load_error"] = str(err)
        return
    st.session_state.pop("load_error", None)
    st.session_state["label_problem"] = problem
    source, st.session_state["keep_note"] = workspace.keep_table(name, data, test, sample,
                                                                 names, options)
    state.set_dataset(state.DatasetState(name, table, schema, test_table, sample,
                                         source=source))
    st.rerun()  # draw the sidebar (drawn before this page) with the new dataset


def reading_options() -> ReadOptions:
    """The 'Advanced reading options' expander: everything sniffed unless set here."""
    with st.expander("Advanced reading options"):
        left, middle, right = st.columns(3)
        delimiter = left.selectbox("Delimiter", [None, *DELIMITERS], key="read_delimiter",
                                   format_func=lambda d: "sniffed" if d is None
                                   else DELIMITERS[d])
        header = middle.selectbox("Header line", [None, True, False], key="read_header",
                                  format_func={None: "sniffed", True: "yes: the first line "
                                               "names the columns", False: "no"}.get)
        skip = right.number_input("Skip the first N lines", 0, 1000, 0, key="read_skip",
                                  help="e.g. 1 for scikit-learn's CSVs (a count line above "
                                       "the header)")
        comment = left.text_input("Comment character", "", max_chars=1, key="read_comment",
                                  help="Lines starting with it are skipped. Empty: off, so "
                                       "cells starting with # are data.")
        encoding = middle.selectbox("Encoding", ["utf-8", "latin-1", "cp1252", "utf-16"],
                                    key="read_encoding")
        tokens = right.text_input("More missing-value tokens", "", key="read_na",
                                  help="Comma-separated, on top of '', NA, N/A, NaN, null, "
                                       "None, ? and -")
    return ReadOptions(delimiter, header, int(skip), comment or None, encoding,
                       tuple(t.strip() for t in tokens.split(",") if t.strip()))


SOURCES = ["A bundled sample", "My own file"]
loaded = state.dataset()
kept = st.session_state.setdefault("kept_source", {  # widgets forget when the page is left
    "source": SOURCES[1] if loaded and not loaded.sample else SOURCES[0],
    "sample": loaded.sample if loaded and loaded.sample else next(iter(SAMPLES))})
source = st.radio("Where is your table?", SOURCES, horizontal=True, key="data_source",
                  index=SOURCES.index(kept["source"]))
kept["source"] = source
if source == "A bundled sample":
    choice = st.selectbox("Sample", list(SAMPLES), format_func=lambda k: SAMPLES[k].title,
                          index=list(SAMPLES).index(kept["sample"]), key="data_sample")
    kept["sample"] = choice
    sample = SAMPLES[choice]
    st.caption(sample.description)
    if st.button("Load this sample", type="primary"):
        test = sample.test_path()
        load(sample.train_file, sample.train_path().read_bytes(),
             (sample.test_file, test.read_bytes()) if test else None,
             sample.columns, choice, sample.label)
else:
    st.caption("Tab-, comma-, semicolon-, pipe- or space-separated text; a header line is "
               f"optional. Up to {size_text(state.UPLOAD_LIMITS.max_bytes)}; the memory "
               f"budget is {size_text(memory_budget())}.")
    left, right = st.columns(2)
    upload = left.file_uploader("Training table", type=TYPES, key="upload_train")
    upload_test = right.file_uploader("Test table (optional, same columns)", type=TYPES,
                                      key="upload_test")
    options = reading_options()
    key = (upload.file_id if upload else None, upload_test.file_id if upload_test else None,
           options)
    if upload is not None and st.session_state.get("loaded_upload") != key:
        st.session_state["loaded_upload"] = key
        load(upload.name, upload.getvalue(),
             (upload_test.name, upload_test.getvalue()) if upload_test else None,
             options=options)

if "load_error" in st.session_state:
    st.error(f"**Could not read the file.** {st.session_state['load_error']}.  \nFix the file, "
             "change the reading options, or pick another file; your previous dataset is kept.",
             icon=":material/error:")
for note in ("keep_note", "restore_note"):
    if st.session_state.get(note):
        st.warning(st.session_state[note], icon=":material/cloud_off:")

data = state.dataset()
if data is None:
    st.info("Pick a sample and press **Load this sample**, or upload a table, to begin.")
    st.stop()
frame = data.frame
counts = data.column_counts
st.subheader(data.name)
st.caption(f"{len(frame):,} rows × {len(frame.columns)} columns · "
           f"{data.table.delimiter_name}-separated · "
           f"{'with a header line' if data.table.has_header else 'no header line'}"
           + (f" · test file {data.test_table.name} ({len(data.test_table.frame):,} rows)"
              if data.test_table else ""))

st.markdown("#### The column to predict")
label_col, bins_col, scale_col = st.columns(3)
label = label_col.selectbox("Column to predict (the label)", list(frame.columns),
                            index=list(frame.columns).index(data.schema.label))
if label != data.schema.label:
    data.schema = data.schema.with_label(label)
    st.session_state.pop("label_problem", None)
    st.rerun()
spec = data.schema.column(label)
if spec.kind == "numeric":
    k = bins_col.number_input("Bin into classes", 0, MAX_CLASSES,
                              max(len(spec.bins) - 1, 0), key=f"bins-{id(data.table)}-{label}",
                              help="Cut a number (a price, an age) into K classes of about "
                                   "equal size, by quantiles; 0 = use the values as classes")
    if k != max(len(spec.bins) - 1, 0):
        try:
            data.schema = data.schema.with_label(label, quantile_bins(frame[label], k)
                                                 if k else None)
        except StudioError as err:
            st.error(str(err))
            st.stop()
        st.rerun()
data.scaling = scale_col.selectbox("Scaling of numeric columns", SCALINGS,
                                   index=SCALINGS.index(data.scaling),
                                   format_func=SCALING_HELP.get)
for note in data.table.notes:
    st.info(f"{note[0].upper()}{note[1:]}.", icon=":material/info:")
if st.session_state.get("label_problem"):
    st.warning(f"Choose the column to predict: {st.session_state['label_problem']}.",
               icon=":material/help:")

sampled = len(frame) > PREVIEW_ROWS
shown = frame.sample(PREVIEW_ROWS, random_state=0).sort_index() if sampled else frame
raw_col, dist_col = st.columns([3, 2])
with raw_col:
    st.markdown("**Raw rows** (index = line in the file)" + (
        f" · {PREVIEW_ROWS} of {len(frame):,} rows, sampled at random" if sampled else ""))
    show_table(shown, height=300)
with dist_col:
    if counts[label][1] <= MAX_CLASSES or spec.bins:
        classes = class_counts(frame, data.schema)
        st.plotly_chart(plots.class_distribution_figure(classes.to_dict(),
                                                        f"Classes of '{label}'"))
    else:
        st.info(f"'{label}' has {counts[label][1]:,} distinct values: too many to be classes.")

if data.sample == "digits":
    pixels = [c for c in frame.columns if c != label][:64]
    st.plotly_chart(plots.digits_figure(frame[pixels].head(10).astype(float).to_numpy().tolist(),
                                        frame[label].head(10).tolist()))

st.markdown("#### Columns")
st.caption("Every choice below is a guess with its reason: change a role or a kind, or give a "
           "categorical column a top-K limit (the K most frequent categories, the rest as "
           "'(other)').")
features = [c for c in data.schema.columns if c.role != "label"]
widths = encoded_widths(frame, data.schema, counts)
table = pd.DataFrame({
    "column": [c.name for c in features], "role": [c.role for c in features],
    "kind": [c.kind for c in features], "top K": [c.max_levels for c in features],
    "numbers": [widths.get(c.name, 0) for c in features],
    "missing": [counts[c.name][0] for c in features],
    "distinct": [counts[c.name][1] for c in features],
    "why": [c.note for c in features]})
edited = st.data_editor(
    table, hide_index=True, width="stretch", key=f"schema-{id(data.table)}-{label}",
    disabled=["column", "numbers", "missing", "distinct", "why"],
    column_config={
        "role": st.column_config.SelectboxColumn("role", options=["feature", "ignore"],
                                                 required=True,
                                                 help="feature: used to predict; ignore: left out"),
        "kind": st.column_config.SelectboxColumn(
            "kind", options=list(KINDS), required=True,
            help="numeric: scaled; binary: -1/+1; categorical: one-hot; datetime: year, "
                 "month, weekday, hour; text: free text, cannot be a feature"),
        "top K": st.column_config.NumberColumn(
            "top K", min_value=0, max_value=10_000, step=1,
            help="categorical: keep the K most frequent categories, the rest as '(other)'; "
                 "0 = keep all"),
        "numbers": st.column_config.NumberColumn("numbers", help="numbers this column becomes"),
        "why": st.column_config.TextColumn("why", width="large")})
changes = {row["column"]: (row["role"], row["kind"], int(row["top K"] or 0))
           for row in edited.to_dict("records")}
data.schema = Schema([c if c.role == "label" else
                      ColumnSpec(c.name, changes[c.name][0], changes[c.name][1], c.note,
                                 changes[c.name][2]) for c in data.schema.columns])

try:
    validate(frame, data.schema, data.name)
    width = check_encoding_size(frame, data.schema, counts=counts)
    encoder = data.encoder()
except StudioError as err:
    st.error(f"{err}  \nChange the label, a column's kind, role or top K above, or fix the "
             "file.", icon=":material/error:")
    st.stop()

st.markdown("#### How each column becomes numbers")
st.caption(f"{encoder.n_features:,} numbers per row go into the network (a float32 matrix of "
           f"{size_text(len(frame) * width * 4)} for all rows); the label becomes a class "
           "index: " + ", ".join(f"{n} = {i}" for i, n in enumerate(encoder.class_names[:20]))
           + (", ..." if len(encoder.class_names) > 20 else ""))
how, preview = st.columns(2)
how.dataframe(pd.DataFrame({"column": [c.name for c in encoder.columns],
                            "encoding": [c.describe() for c in encoder.columns]}),
              hide_index=True, width="stretch")
preview.dataframe(encoder.preview(with_bins(shown, data.schema), 8), width="stretch")
preview.caption("Encoded: the numbers the network sees, then the label's class index"
                + (" (sampled rows)." if sampled else "."))
with st.expander("Encoded rows as a table"):
    show_table(encoder.encoded_frame(shown.head(50)).round(4))

st.markdown("#### Train / test split")
if data.test_table is not None:
    st.info(f"Test rows come from **{data.test_table.name}** "
            f"({len(data.test_table.frame):,} rows); all {len(frame):,} rows of "
            f"{data.name} are for training.")
    if st.button("Split the training file instead"):
        data.test_table = None
        st.rerun()
else:
    left, right = st.columns(2)
    data.test_fraction = left.slider("Test fraction (stratified by class)", 0.05, 0.5,
                                     data.test_fraction, 0.05)
    data.seed = int(right.number_input("Split seed", 0, 10**6, data.seed,
                                       help="The same seed gives the same split"))
    st.caption(f"About {round(len(frame) * data.test_fraction):,} rows held out for testing, "
               f"the same share of every class.")

st.page_link("views/train.py", label="Next: train a network on this table",
             icon=":material/arrow_forward:")
