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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .encoder import Encoder
from .errors import BundleError
from .model import ModelConfig, build_model
from .schema import Schema
from .training import TrainConfig

FORMAT = "classifier-studio-bundle/1"
MAX_ZIP_BYTES = 200 * 1024 * 1024
MEMBERS = ("bundle.json", "model.pt")


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
                "metrics": self.metrics, "history": self.history, "versions": self.versions,
                "created": self.created}


def _from_parts(meta_bytes: bytes, weights: bytes, where: str) -> Bundle:
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{where}: bundle.json is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{where}: not a Classifier Studio bundle (bundle.json format is "
                          f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as err:  # damaged or hostile file: refuse it in one line
        raise BundleError(f"{where}: model.pt is not a readable state_dict "
                          f"({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise BundleError(f"{where}: model.pt does not hold a state_dict of tensors")
    try:
        bundle = Bundle(Schema.from_dict(meta["schema"]), Encoder.from_dict(meta["encoder"]),
                        ModelConfig.from_dict(meta["model_config"]),
                        TrainConfig.from_dict(meta["train_config"]), state,
                        meta.get("metrics", {}), meta.get("history"),
                        meta.get("versions", {}), meta.get("created", ""))
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{where}: bundle.json is incomplete or damaged ({err})") from None
    bundle.build_model()  # fail now, not at first use, when the weights do not fit
    return bundle


def save_bundle(bundle: Bundle, directory: Path | str) -> Path:
    """Write model.pt and bundle.json into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(bundle.state_dict, directory / "model.pt")
    (directory / "bundle.json").write_text(json.dumps(bundle.to_json(), indent=1))
    return directory


def bundle_to_zip(bundle: Bundle) -> bytes:
    """The bundle as one .zip (bundle.json + model.pt), e.g. for a download."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bundle.json", json.dumps(bundle.to_json(), indent=1))
        archive.writestr("model.pt", state_dict_bytes(bundle))
    return out.getvalue()


def state_dict_bytes(bundle: Bundle) -> bytes:
    """The bare weights (`model.pt`, a state_dict of tensors) as bytes, e.g. for a download;
    loads with torch.load(..., weights_only=True) into the network bundle.json describes."""
    weights = io.BytesIO()
    torch.save(bundle.state_dict, weights)
    return weights.getvalue()


def bundle_from_zip(data: bytes, where: str = "bundle.zip") -> Bundle:
    """Read an uploaded .zip bundle, bounding sizes and refusing anything unexpected."""
    if len(data) > MAX_ZIP_BYTES:
        raise BundleError(f"{where}: {len(data) / 1e6:.0f} MB is over the "
                          f"{MAX_ZIP_BYTES / 1e6:.0f} MB limit")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = {info.filename.rsplit("/", 1)[-1]: info for info in archive.infolist()
                     if not info.is_dir()}
            missing = [m for m in MEMBERS if m not in infos]
            if missing:
                raise BundleError(f"{where}: the zip has no {' or '.join(missing)}")
            if sum(infos[m].file_size for m in MEMBERS) > MAX_ZIP_BYTES:
                raise BundleError(f"{where}: the bundle unpacks to more than "
                                  f"{MAX_ZIP_BYTES / 1e6:.0f} MB")
            meta, weights = (archive.read(infos[m]) for m in MEMBERS)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        # damaged data, an unsupported compression method, or a password
        raise BundleError(f"{where}: not a zip file (or a damaged one)") from None
    return _from_parts(meta, weights, where)


def load_bundle(path: Path | str) -> Bundle:
    """Load a bundle from its directory or from a .zip file."""
    path = Path(path)
    if path.is_file():
        return bundle_from_zip(path.read_bytes(), str(path))
    if not (path / "bundle.json").is_file() or not (path / "model.pt").is_file():
        raise BundleError(f"{path}: no bundle here (expected bundle.json and model.pt)")
    return _from_parts((path / "bundle.json").read_bytes(), (path / "model.pt").read_bytes(),
                       str(path))
