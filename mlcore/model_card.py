"""A bundle's model card in Markdown: what it predicts, the columns it expects (types and
examples), how well it did, how it was trained and when. The zip bundle carries it as
README.md and a shared model's page shows the same text."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .encoder import MISSING_LEVEL, OTHER_LEVEL, ColumnEncoding

if TYPE_CHECKING:  # bundle.py imports this module to put the card in its zips
    from .bundle import Bundle

SPECIAL_LEVELS = (MISSING_LEVEL, OTHER_LEVEL)
SHOWN_LEVELS = 8


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _levels(encoding: ColumnEncoding) -> list[str]:
    return [level for level in encoding.levels if level not in SPECIAL_LEVELS]


def _column_row(name: str, kind: str, parts: list[ColumnEncoding]) -> str:
    """One row of the columns table: name, type, examples, how it is encoded."""
    first = parts[0]
    if kind == "datetime":
        years = next((p for p in parts if p.part == "year"), first)
        example = (f"ISO 8601, e.g. {int(years.low)}-01-31 or {int(years.high)}-06-30T14:00"
                   if years.part == "year" else "ISO 8601, e.g. 2024-01-31T14:00")
        how = "its parts: " + ", ".join(p.part for p in parts)
    elif first.kind == "numeric":
        example = (f"{_number(first.low)} · {_number(first.fill)} · {_number(first.high)} "
                   "(min · median · max seen in training)")
        how = first.describe()
        kind = "number" if kind == "numeric" else f"{kind} given as a number (0/1)"
    else:
        levels = _levels(first)
        example = ", ".join(levels[:SHOWN_LEVELS]) + (
            f" (and {len(levels) - SHOWN_LEVELS} more)" if len(levels) > SHOWN_LEVELS else "")
        how = (first.describe() if first.kind == "binary"
               else f"one-hot over {len(first.levels)}"
               + ("; others become (other)" if OTHER_LEVEL in first.levels else ""))
    return f"| `{_cell(name)}` | {kind} | {_cell(example)} | {_cell(how)} |"


def _example_value(parts: list[ColumnEncoding], kind: str) -> str:
    """A plausible raw value for one column, for the example command."""
    first = parts[0]
    if kind == "datetime":
        years = next((p for p in parts if p.part == "year"), None)
        return f"{int(years.fill) if years else 2024}-01-31"
    if first.kind == "numeric":
        return _number(first.fill)
    levels = _levels(first)
    return levels[0] if levels else ""


def _columns(bundle: Bundle) -> list[str]:
    """The section on the columns the model expects, in file order, and those left out."""
    by_name: dict[str, list[ColumnEncoding]] = {}
    for encoding in bundle.encoder.columns:
        by_name.setdefault(encoding.name, []).append(encoding)
    lines = ["## The columns it expects", "",
             "| column | type | examples | encoded as |", "|---|---|---|---|"]
    for spec in bundle.schema.features:
        lines.append(_column_row(spec.name, spec.kind, by_name[spec.name]))
    left_out = [c for c in bundle.schema.columns if c.role == "ignore"]
    if left_out:
        lines += ["", "Left out (not needed to predict): " + "; ".join(
            f"`{c.name}`" + (f" ({c.note})" if c.note else "") for c in left_out) + "."]
    row = ",".join(_quoted(_example_value(by_name[s.name], s.kind))
                   for s in bundle.schema.features)
    lines += ["", "Predict one row (the feature columns in this order):", "", "```bash",
              f"python -m mlcore predict model.zip --row '{row}'", "```"]
    return lines


def _quoted(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def _metrics(bundle: Bundle) -> list[str]:
    """Accuracy per part, the per-class table and the confusion matrix of the test rows."""
    lines = ["## How well it does", ""]
    for part in ("train", "validation", "test"):
        report = bundle.metrics.get(part)
        if report:
            lines.append(f"- {part.capitalize()}: {report['accuracy']:.2%} accuracy "
                         f"({report['n_correct']:,} of {report['n']:,} rows), log-loss "
                         f"{report['log_loss']:.4f}")
    test = bundle.metrics.get("test")
    if not test:
        return lines
    lines += ["", "Per class, on the test rows:", "",
              "| class | rows | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for row in test["per_class"]:
        lines.append(f"| {_cell(row['name'])} | {row['support']:,} | {row['precision']:.3f} "
                     f"| {row['recall']:.3f} | {row['f1']:.3f} |")
    macro = test.get("macro") or {}
    if macro:
        lines.append(f"| macro average | | {macro['precision']:.3f} | {macro['recall']:.3f} "
                     f"| {macro['f1']:.3f} |")
    names = [_cell(n) for n in test["class_names"]]
    lines += ["", "Confusion matrix (rows: actual, columns: predicted):", "",
              "| actual \\ predicted | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    for name, counts in zip(names, test["confusion"]):
        lines.append(f"| {name} | " + " | ".join(f"{c:,}" for c in counts) + " |")
    return lines + _importance(bundle)


def _importance(bundle: Bundle, top: int = 15) -> list[str]:
    """Permutation importance on the test rows, most important first, when it was measured."""
    found = bundle.metrics.get("importance")
    if not found:
        return []
    lines = ["", "Feature importance (accuracy points lost on the test rows when the column "
             "is shuffled; mean ± sd of 5 shuffles):", "", "| column | points lost |",
             "|---|---:|"]
    lines += [f"| {_cell(i['column'])} | {100 * i['mean']:.2f} ± {100 * i['sd']:.2f} |"
              for i in found[:top]]
    if len(found) > top:
        lines.append(f"| … {len(found) - top} more | |")
    return lines


def _training(bundle: Bundle) -> list[str]:
    """The network and the training settings, as the CLI's flags name them."""
    m, t, history = bundle.model_config, bundle.train_config, bundle.history or {}
    epochs_run = len(history.get("epochs", [])) or t.epochs
    stopped = {"early": f", early stop at best epoch {history.get('best_epoch')}",
               "user": ", stopped by hand"}.get(history.get("stopped", ""), "")
    return ["## Training", "",
            f"- Network: {bundle.architecture}, {m.activation}"
            + (f", dropout {m.dropout:g}" if m.dropout else "")
            + (f", {m.binary_head} head" if len(bundle.class_names) == 2 else ""),
            f"- Optimizer: {t.optimizer}, lr {t.lr:g}"
            + (f", momentum {t.momentum:g}" if t.optimizer == "sgd" else "")
            + (f", weight decay {t.weight_decay:g}" if t.weight_decay else "")
            + f", batch {t.batch_size}",
            f"- Epochs: {epochs_run} of {t.epochs}{stopped}; seed {t.seed}",
            f"- Scaling of numbers: {bundle.encoder.scaling}",
            f"- Trained on: {history.get('device') or 'cpu'}"
            + (f", {history['train_seconds']:.2f} s" if history.get("train_seconds") else "")]


def model_card(bundle: Bundle, data_name: str | None = None) -> str:
    """The model card of `bundle` as Markdown (data_name: the table it was trained on)."""
    names = bundle.class_names
    label = bundle.schema.label
    rule = (f" It predicts **{names[1]}** when P({names[1]}) ≥ {bundle.threshold:g}, "
            f"else **{names[0]}**." if len(names) == 2 else
            " It predicts the most probable class.")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(bundle.versions.items()))
    lines = [f"# Model card: `{label}` from {data_name or 'a table'}", "",
             f"Trained {bundle.created or 'at an unknown date'} with Classifier Studio"
             + (f" ({versions})" if versions else "") + ".", "",
             "## What it predicts", "",
             f"The column `{label}`: {len(names)} classes ({', '.join(names)}).{rule}", ""]
    lines += _columns(bundle) + [""] + _metrics(bundle) + [""] + _training(bundle)
    lines += ["", "## Files", "",
              "`bundle.json` (schema, encoder, settings, metrics) and `model.pt` (a PyTorch "
              "state_dict; load it with `torch.load(..., weights_only=True)`, or the whole "
              "bundle with `mlcore.bundle.load_bundle`).", ""]
    return "\n".join(lines)
