"""Data page: bring a table (a sample or an upload), choose the label, check the encoding."""
import pandas as pd
import streamlit as st

from mlcore import plots
from mlcore.encoder import SCALINGS, Encoder
from mlcore.errors import StudioError
from mlcore.samples import SAMPLES
from mlcore.schema import KINDS, ColumnSpec, Schema, infer_schema, validate
from ui import state

SCALING_HELP = {"zscore": "z-score: (x - mean) / std", "minmax": "min-max: to 0..1",
                "divisor": "divide by a power of ten (the articles' units/100, score/1000)",
                "none": "leave numbers as they are"}

st.title("Data")
st.caption("Step 1 of 5 · Bring a table, choose the column to predict, and see how every "
           "column will be turned into numbers.")


def load(name: str, data: bytes, test: tuple[str, bytes] | None = None,
         names: tuple[str, ...] | None = None, sample: str | None = None,
         label: str | None = None) -> None:
    """Parse and adopt a new dataset; on any problem show it and keep the old one."""
    try:
        table = state.parse_table(data, name, names)
        test_table = state.parse_table(test[1], test[0], names or (
            None if table.has_header else tuple(table.frame.columns))) if test else None
        schema = infer_schema(table.frame, label)
    except StudioError as err:
        st.session_state["load_error"] = str(err)
        return
    st.session_state.pop("load_error", None)
    state.set_dataset(state.DatasetState(name, table, schema, test_table, sample))
    st.rerun()  # draw the sidebar (drawn before this page) with the new dataset


source = st.radio("Where is your table?", ["A bundled sample", "My own file"], horizontal=True,
                  key="data_source")
if source == "A bundled sample":
    choice = st.selectbox("Sample", list(SAMPLES), format_func=lambda k: SAMPLES[k].title)
    sample = SAMPLES[choice]
    st.caption(sample.description)
    if st.button("Load this sample", type="primary"):
        test = sample.test_path()
        load(sample.train_file, sample.train_path().read_bytes(),
             (sample.test_file, test.read_bytes()) if test else None,
             sample.columns, choice, sample.label)
else:
    st.caption("Tab-, comma-, semicolon- or space-separated text; a header line is optional, "
               "`#` lines are skipped. Up to 20 MB.")
    left, right = st.columns(2)
    upload = left.file_uploader("Training table", type=["tsv", "csv", "txt", "tab", "dat"],
                                key="upload_train")
    upload_test = right.file_uploader("Test table (optional, same columns)",
                                      type=["tsv", "csv", "txt", "tab", "dat"], key="upload_test")
    key = (upload.file_id if upload else None, upload_test.file_id if upload_test else None)
    if upload is not None and st.session_state.get("loaded_upload") != key:
        st.session_state["loaded_upload"] = key
        load(upload.name, upload.getvalue(),
             (upload_test.name, upload_test.getvalue()) if upload_test else None)

if "load_error" in st.session_state:
    st.error(f"**Could not read the file.** {st.session_state['load_error']}.  \nFix the file "
             "(or pick another) and upload it again; your previous dataset is kept.",
             icon=":material/error:")

data = state.dataset()
if data is None:
    st.info("Pick a sample and press **Load this sample**, or upload a table, to begin.")
    st.stop()

frame = data.frame
st.subheader(data.name)
st.caption(f"{len(frame)} rows × {len(frame.columns)} columns · "
           f"{data.table.delimiter_name}-separated · "
           f"{'with a header line' if data.table.has_header else 'no header line'}"
           + (f" · test file {data.test_table.name} ({len(data.test_table.frame)} rows)"
              if data.test_table else ""))

raw_col, dist_col = st.columns([3, 2])
with raw_col:
    st.markdown("**Raw rows** (index = line in the file)")
    st.dataframe(frame.head(200), height=300)
with dist_col:
    counts = frame[data.schema.label].value_counts().sort_index()
    st.plotly_chart(plots.class_distribution_figure(counts.to_dict(),
                                                    f"Classes of '{data.schema.label}'"))

if data.sample == "digits":
    pixels = [c for c in frame.columns if c != data.schema.label][:64]
    st.plotly_chart(plots.digits_figure(frame[pixels].head(10).astype(float).to_numpy().tolist(),
                                        frame[data.schema.label].head(10).tolist()))

st.markdown("#### Columns")
label_col, scale_col = st.columns(2)
label = label_col.selectbox("Column to predict (the label)", list(frame.columns),
                            index=list(frame.columns).index(data.schema.label))
if label != data.schema.label:
    data.schema = data.schema.with_label(label)
    st.rerun()
data.scaling = scale_col.selectbox("Scaling of numeric columns", SCALINGS,
                                   index=SCALINGS.index(data.scaling),
                                   format_func=SCALING_HELP.get)

features = [c for c in data.schema.columns if c.role != "label"]
table = pd.DataFrame({
    "column": [c.name for c in features], "role": [c.role for c in features],
    "kind": [c.kind for c in features],
    "missing": [int(frame[c.name].isna().sum()) for c in features],
    "distinct": [int(frame[c.name].nunique()) for c in features],
    "why": [c.note for c in features]})
edited = st.data_editor(
    table, hide_index=True, width="stretch", key=f"schema-{id(data.table)}-{label}",
    disabled=["column", "missing", "distinct", "why"],
    column_config={
        "role": st.column_config.SelectboxColumn("role", options=["feature", "ignore"],
                                                 required=True,
                                                 help="feature: used to predict; ignore: left out"),
        "kind": st.column_config.SelectboxColumn("kind", options=list(KINDS), required=True,
                                                 help="numeric: scaled; binary: -1/+1; "
                                                      "categorical: one-hot")})
changes = {row.column: (row.role, row.kind) for row in edited.itertuples()}
data.schema = Schema([c if c.role == "label" else
                      ColumnSpec(c.name, *changes[c.name], c.note) for c in data.schema.columns])

try:
    validate(frame, data.schema, data.name)
    encoder = Encoder.fit(frame, data.schema, data.scaling)
except StudioError as err:
    st.error(f"{err}  \nChange the column's kind or role above, or fix the file.",
             icon=":material/error:")
    st.stop()

st.markdown("#### How each column becomes numbers")
st.caption(f"{encoder.n_features} numbers per row go into the network; the label becomes a "
           f"class index: " + ", ".join(f"{n} = {i}" for i, n in enumerate(encoder.class_names)))
how, preview = st.columns(2)
how.dataframe(pd.DataFrame({"column": [c.name for c in encoder.columns],
                            "encoding": [c.describe() for c in encoder.columns]}),
              hide_index=True, width="stretch")
preview.dataframe(encoder.preview(frame, 8), width="stretch")
preview.caption("Encoded: the numbers the network sees, then the label's class index.")
with st.expander("Encoded rows as a table"):
    st.dataframe(encoder.encoded_frame(frame.head(50)).round(4))

st.markdown("#### Train / test split")
if data.test_table is not None:
    st.info(f"Test rows come from **{data.test_table.name}** "
            f"({len(data.test_table.frame)} rows); all {len(frame)} rows of "
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
    st.caption(f"About {round(len(frame) * data.test_fraction)} rows held out for testing, "
               f"the same share of every class.")

st.page_link("pages/train.py", label="Next: train a network on this table",
             icon=":material/arrow_forward:")
