"""A trained model that travels: weights (`model.pt`, a plain state_dict) plus `bundle.json`
(schema, encoder, configs, class names, metrics, versions). Loads with no user code and
without unpickling anything: torch.load(weights_only=True) and json only.
"""
from __future__ import annotations

import io
import json
import platform
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .decision import DEFAULT_THRESHOLD, check_threshold
from .encoder import Encoder
from .errors import BundleError, LimitError, SettingError
from .model import ModelConfig, build_model, check_size, max_parameters, planned_shapes
from .model_card import model_card
from .metrics import stored_metrics
from .schema import Schema
from .training import TrainConfig

FORMAT = "classifier-studio-bundle/1"
MAX_ZIP_BYTES = 200 * 1024 * 1024
MEMBERS = ("bundle.json", "model.pt")   # what the reader needs; others are not read
CARD = "README.md"                      # the model card the zip writer adds
MAX_JSON_BYTES = 16 * 1024 * 1024      # bundle.json, on disk or inflated
MAX_JSON_DEPTH = 32                     # nesting of arrays/objects (ours is 5 deep)
MAX_ENTRIES = 16                        # entries in a bundle zip
MAX_DIRECTORY_BYTES = 1024 * 1024       # a zip's central directory (bounds parsing it)
MAX_RATIO, RATIO_FREE_BYTES = 200, 1024 * 1024   # inflated/packed, once past 1 MiB
WEIGHTS_OVERHEAD = 1024 * 1024          # model.pt beyond 8 bytes (float64) a parameter
MAX_EXTRA_RECORDS = 16                  # model.pt records besides one per tensor
CHUNK_BYTES = 64 * 1024


def current_versions() -> dict[str, str]:
    from . import __version__
    return {"mlcore": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


@dataclass
class Bundle:
    """Everything needed to rebuild, evaluate and use a trained classifier."""

    schema: Schema
    encoder: Encoder
    model_config: ModelConfig
    train_config: TrainConfig
    state_dict: dict[str, torch.Tensor]
    metrics: dict = field(default_factory=dict)   # {"train": report dict, "test": ...}
    history: dict | None = None
    versions: dict = field(default_factory=current_versions)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc)
                         .isoformat(timespec="seconds"))
    threshold: float = DEFAULT_THRESHOLD  # two classes: positive when P(class 1) >= this

    @property
    def class_names(self) -> list[str]:
        return self.encoder.class_names

    @property
    def architecture(self) -> str:
        return self.model_config.describe(self.encoder.n_features, len(self.class_names))

    def build_model(self) -> nn.Module:
        """The network with the bundle's weights, on the CPU, in eval mode."""
        model = build_model(self.encoder.n_features, len(self.class_names), self.model_config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError:
            raise BundleError("model.pt does not fit the network described in bundle.json") \
                from None
        return model.eval()

    def to_json(self) -> dict:
        return {"format": FORMAT, "schema": self.schema.to_dict(),
                "encoder": self.encoder.to_dict(), "model_config": self.model_config.to_dict(),
                "train_config": self.train_config.to_dict(), "class_names": self.class_names,
                "architecture": self.architecture, "seed": self.train_config.seed,
                "threshold": self.threshold, "metrics": self.metrics, "history": self.history,
                "versions": self.versions, "created": self.created}

    def with_threshold(self, threshold: float, reports: dict | None = None) -> Bundle:
        """A copy deciding at `threshold` (two classes only); with `reports` (Report per
        part, e.g. the session's) its stored parts' metrics are re-measured at that threshold
        (what else the metrics hold, such as importance and baselines, is kept)."""
        threshold = check_threshold(threshold, self.class_names, "the threshold")
        metrics = self.metrics if reports is None else {**self.metrics, **stored_metrics(
            {name: report.at_threshold(threshold) for name, report in reports.items()})}
        return replace(self, threshold=threshold, metrics=metrics)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _nesting_depth(text: bytes) -> int:
    """How deep arrays and objects nest in JSON text, without parsing it (json.loads would
    recurse that deep): escapes, then strings by quote parity, masked; brackets summed."""
    plain = text.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    data = np.frombuffer(plain, dtype=np.uint8)
    inside = np.bitwise_xor.accumulate((data == ord('"')).view(np.uint8)).view(bool)
    steps = (((data == ord("[")) | (data == ord("{"))).view(np.int8)
             - ((data == ord("]")) | (data == ord("}"))).view(np.int8))
    steps[inside] = 0
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _parse_meta(meta_bytes: bytes, where: str) -> dict:
    """bundle.json as a dict, its nesting checked before json.loads could recurse on it."""
    depth = _nesting_depth(meta_bytes)
    if depth > MAX_JSON_DEPTH:
        raise LimitError(f"{where}: bundle.json nests {depth:,} levels deep, over the limit "
                         f"of {MAX_JSON_DEPTH}")
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 or JSON, a 5000-digit number
        raise BundleError(f"{where}: bundle.json is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{where}: not a Classifier Studio bundle (bundle.json format is "
                          f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    return meta


def _declared_shapes(meta: dict, where: str) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of the network bundle.json declares, once it fits the budget."""
    try:
        encoder = Encoder.from_dict(meta["encoder"])
        config = ModelConfig.from_dict(meta["model_config"])
        n_features, n_classes = encoder.n_features, len(encoder.class_names)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise BundleError(f"{where}: bundle.json is incomplete or damaged ({err})") from None
    check_size(n_features, n_classes, config, f"{where}: bundle.json model_config")
    return planned_shapes(n_features, n_classes, config)


def _directory_bytes(data: bytes) -> int:
    """The central-directory size a zip's end record declares (zip64's too), found where
    zipfile finds it; zipfile parses that much before any check of ours can run."""
    end = len(data) - 22
    if end < 0 or data[end:end + 4] != b"PK\x05\x06" or data[-2:] != b"\0\0":
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0:
        return 0  # no end record: zipfile refuses the data itself
    size = int.from_bytes(data[end + 12:end + 16], "little")
    if end >= 76 and data[end - 20:end - 16] == b"PK\x06\x07":  # zip64 record before it
        size = max(size, int.from_bytes(data[end - 36:end - 28], "little"))
    return size


def _check_directory(data: bytes, what: str) -> None:
    size = _directory_bytes(data)
    if size > MAX_DIRECTORY_BYTES:
        raise LimitError(f"{what}: the zip directory is {_mb(size)}, over the "
                         f"{_mb(MAX_DIRECTORY_BYTES)} limit")


def _check_weights_archive(weights: bytes, n_tensors: int, where: str) -> None:
    """model.pt must be torch's zip format with stored records, no more than the network
    needs: torch.load then allocates no more than the file holds."""
    _check_directory(weights, f"{where}: model.pt")
    try:
        with zipfile.ZipFile(io.BytesIO(weights)) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise BundleError(f"{where}: model.pt is not a readable state_dict (not the zip "
                          "format torch.save writes)") from None
    if len(records) > n_tensors + MAX_EXTRA_RECORDS:
        raise LimitError(f"{where}: model.pt holds {len(records):,} records, over the "
                         f"{n_tensors + MAX_EXTRA_RECORDS} the network in bundle.json needs")
    if any(r.compress_type != zipfile.ZIP_STORED for r in records) \
            or sum(r.file_size for r in records) > len(weights):
        raise LimitError(f"{where}: model.pt has compressed records or records larger than "
                         "the file (torch.save writes neither)")


def _shape_problem(state: dict, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """The first way the tensors differ from those of bundle.json's network, if any."""
    for key, shape in shapes.items():
        if key not in state:
            return f"it has no tensor '{key}'"
        if tuple(state[key].shape) != shape:
            return (f"tensor '{key}' has shape {list(state[key].shape)} but the network "
                    f"needs {list(shape)}")
    extra = next((key for key in state if key not in shapes), None)
    return None if extra is None else f"it has an unexpected tensor {str(extra)[:60]!r}"


def _load_state(weights: bytes, shapes: dict[str, tuple[int, ...]],
                where: str) -> dict[str, torch.Tensor]:
    """model.pt's state_dict, loaded only once its records are bounded, then its tensors'
    shapes checked against the declared network."""
    _check_weights_archive(weights, len(shapes), where)
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as err:  # damaged or hostile file: refuse it in one line
        raise BundleError(f"{where}: model.pt is not a readable state_dict "
                          f"({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise BundleError(f"{where}: model.pt does not hold a state_dict of tensors")
    problem = _shape_problem(state, shapes)
    if problem:
        raise BundleError(f"{where}: model.pt does not fit the network bundle.json "
                          f"describes: {problem}")
    return state


def _from_parts(meta_bytes: bytes, weights: bytes, where: str) -> Bundle:
    """The bundle from its two files' bytes: JSON checked, the declared network sized
    against the budget before torch.load, the weights' shapes checked after it."""
    meta = _parse_meta(meta_bytes, where)
    state = _load_state(weights, _declared_shapes(meta, where), where)
    try:
        bundle = Bundle(Schema.from_dict(meta["schema"]), Encoder.from_dict(meta["encoder"]),
                        ModelConfig.from_dict(meta["model_config"]),
                        TrainConfig.from_dict(meta["train_config"]), state,
                        meta.get("metrics", {}), meta.get("history"),
                        meta.get("versions", {}), meta.get("created", ""))
        bundle.threshold = _stored_threshold(meta, bundle.class_names, where)
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{where}: bundle.json is incomplete or damaged ({err})") from None
    bundle.build_model()  # fail now, not at first use, when the weights do not fit
    return bundle


def _stored_threshold(meta: dict, class_names: list[str], where: str) -> float:
    """bundle.json's decision threshold (0.5 when absent, always 0.5 for many classes)."""
    value = meta.get("threshold", DEFAULT_THRESHOLD)
    if len(class_names) != 2 or value == DEFAULT_THRESHOLD:
        return DEFAULT_THRESHOLD
    try:
        return check_threshold(value, class_names, "threshold")
    except (SettingError, TypeError, ValueError):
        raise BundleError(f"{where}: bundle.json's threshold {value!r} is not a number "
                          "between 0 and 1") from None


def save_bundle(bundle: Bundle, directory: Path | str) -> Path:
    """Write model.pt and bundle.json into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(bundle.state_dict, directory / "model.pt")
    (directory / "bundle.json").write_text(json.dumps(bundle.to_json(), indent=1))
    return directory


def bundle_to_zip(bundle: Bundle, data_name: str | None = None) -> bytes:
    """The bundle as one .zip (bundle.json + model.pt + its model card as README.md, naming
    `data_name` as the table it learned from), e.g. for a download. The reader needs only
    the first two, so zips without a card load too."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bundle.json", json.dumps(bundle.to_json(), indent=1))
        archive.writestr("model.pt", state_dict_bytes(bundle))
        archive.writestr(CARD, model_card(bundle, data_name))
    return out.getvalue()


def state_dict_bytes(bundle: Bundle) -> bytes:
    """The bare weights (`model.pt`, a state_dict of tensors) as bytes, e.g. for a download;
    loads with torch.load(..., weights_only=True) into the network bundle.json describes."""
    weights = io.BytesIO()
    torch.save(bundle.state_dict, weights)
    return weights.getvalue()


def _weights_cap() -> int:
    """The most bytes model.pt may hold: float64 weights of a network at the budget."""
    return 8 * max_parameters() + WEIGHTS_OVERHEAD


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int,
                 where: str) -> bytes:
    """One member, inflated in chunks and counted as it comes: refused past `cap` bytes or
    MAX_RATIO times its packed size, whatever size its header claims."""
    name, packed = info.filename.rsplit("/", 1)[-1], max(info.compress_size, 1)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(f"{where}: {name} uses zip compression method "
                          f"{info.compress_type} (a bundle uses stored or deflate)")
    chunks, total = [], 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK_BYTES):
            total += len(chunk)
            if total > cap:
                raise LimitError(f"{where}: {name} unpacks to more than {_mb(cap)}, its limit")
            if total > max(MAX_RATIO * packed, RATIO_FREE_BYTES):
                raise LimitError(f"{where}: {name} inflates over {MAX_RATIO} times its "
                                 f"{packed:,} packed bytes, as only a zip bomb does")
            chunks.append(chunk)
    return b"".join(chunks)


def bundle_from_zip(data: bytes, where: str = "bundle.zip") -> Bundle:
    """Read an uploaded .zip bundle, bounding sizes and refusing anything unexpected."""
    if len(data) > MAX_ZIP_BYTES:
        raise BundleError(f"{where}: {len(data) / 1e6:.0f} MB is over the "
                          f"{MAX_ZIP_BYTES / 1e6:.0f} MB limit")
    _check_directory(data, where)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if len(archive.infolist()) > MAX_ENTRIES:
                raise LimitError(f"{where}: the zip has {len(archive.infolist()):,} entries, "
                                 f"over the limit of {MAX_ENTRIES}")
            infos = {info.filename.rsplit("/", 1)[-1]: info for info in archive.infolist()
                     if not info.is_dir()}
            missing = [m for m in MEMBERS if m not in infos]
            if missing:
                raise BundleError(f"{where}: the zip has no {' or '.join(missing)}")
            meta = _read_member(archive, infos["bundle.json"], MAX_JSON_BYTES, where)
            weights = _read_member(archive, infos["model.pt"],
                                   min(_weights_cap(), MAX_ZIP_BYTES), where)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        # damaged data, an unsupported compression method, or a password
        raise BundleError(f"{where}: not a zip file (or a damaged one)") from None
    return _from_parts(meta, weights, where)


def _read_file(file: Path, cap: int, where: str) -> bytes:
    """A file's bytes, refused by its size on disk before any is read (and never read past
    `cap`, should it grow meanwhile)."""
    size = file.stat().st_size
    if size <= cap:
        with file.open("rb") as handle:
            data = handle.read(cap + 1)
        if len(data) <= cap:
            return data
        size = max(size, len(data))
    raise LimitError(f"{where}: {file.name} is {_mb(size)}, over the {_mb(cap)} limit")


def load_bundle(path: Path | str) -> Bundle:
    """Load a bundle from its directory or from a .zip file, sizes checked before reading."""
    path = Path(path)
    if path.is_file():
        return bundle_from_zip(_read_file(path, MAX_ZIP_BYTES, str(path)), str(path))
    if not (path / "bundle.json").is_file() or not (path / "model.pt").is_file():
        raise BundleError(f"{path}: no bundle here (expected bundle.json and model.pt)")
    return _from_parts(_read_file(path / "bundle.json", MAX_JSON_BYTES, str(path)),
                       _read_file(path / "model.pt", _weights_cap(), str(path)), str(path))


def write_bundle(bundle: Bundle, path: Path | str) -> Path:
    """Write the bundle back where it came from: a .zip file, or a directory."""
    path = Path(path)
    if path.is_file() or path.suffix.lower() == ".zip":
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(bundle_to_zip(bundle))
        partial.replace(path)
        return path
    return save_bundle(bundle, path)
