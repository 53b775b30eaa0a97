"""Errors the engine raises for bad input: one readable line each, never a traceback."""
from __future__ import annotations


class StudioError(Exception):
    """Base of every user-facing engine error; str(err) is the one-line message."""


class TableError(StudioError):
    """A table could not be read or does not fit its limits; names file, line and column."""

    def __init__(self, message: str, source: str | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        self.source, self.line, self.column, self.reason = source, line, column, message
        where = [p for p in (source, f"line {line}" if line else None,
                             f"column '{column}'" if column else None) if p]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class SchemaError(StudioError):
    """The chosen roles/kinds cannot be used for training (e.g. a label with one class)."""


class InputError(StudioError):
    """Raw values given for prediction do not match the schema."""


class BundleError(StudioError):
    """A saved model bundle is missing, damaged or not one of ours."""


class LimitError(StudioError):
    """An input would cost more than the configured limit (memory, time); the message is
    one sentence naming the file or setting and the field, checked before anything is
    allocated."""


class SettingError(StudioError):
    """A setting is out of range or does not apply to this model (e.g. a threshold for a
    model with three classes)."""


class ResumeError(StudioError):
    """A checkpoint cannot continue this run: trained for other settings or data, too old
    to say what for, or already past the epochs asked for."""


class StoreError(StudioError):
    """The run store cannot do what was asked: it cannot be opened, or a workspace, run or
    dataset is not there."""


class QuotaError(StoreError):
    """A workspace would go over its quota of bytes or runs; the message says what to
    delete."""


class ShareError(StoreError):
    """A share link that cannot be opened: unknown, revoked or expired (one sentence for
    all three, so a token's history is not given away)."""
