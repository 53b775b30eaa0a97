"""The bundled sample datasets: raw tab-separated files in data/ (no header), with the
column names and label the app should use for them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Sample:
    """One sample: its files, column names (the files have no header) and label."""

    name: str
    title: str
    description: str
    train_file: str
    test_file: str | None
    columns: tuple[str, ...]
    label: str

    def train_path(self) -> Path:
        """Absolute path of the training (or only) file."""
        return DATA_DIR / self.train_file

    def test_path(self) -> Path | None:
        """Absolute path of the test file; None means the app splits the train file."""
        return DATA_DIR / self.test_file if self.test_file else None


SAMPLES: dict[str, Sample] = {s.name: s for s in (
    Sample("students", "Students: predict major",
           "200 + 40 students: sex, units, state, test score → major (3 classes). "
           "McCaffrey's multi-class demo.",
           "students_train.tsv", "students_test.tsv",
           ("sex", "units", "state", "score", "major"), "major"),
    Sample("people", "People: predict sex",
           "200 + 40 people: age, state, income, politics → sex (2 classes). "
           "McCaffrey's binary demo.",
           "people_train.tsv", "people_test.tsv",
           ("age", "state", "income", "politics", "sex"), "sex"),
    Sample("employees", "Employees: predict job type",
           "200 + 40 employees: sex, age, city, income → job type mgmt/supp/tech "
           "(3 classes). The per-class accuracy demo.",
           "employees_train.tsv", "employees_test.tsv",
           ("sex", "age", "city", "income", "job"), "job"),
    Sample("blobs", "Blobs: four clusters in 2-D",
           "1,000 points: x1, x2 → one of 4 overlapping blobs. Two features, so the "
           "decision boundary is the whole picture.",
           "blobs.tsv", None, ("x1", "x2", "class"), "class"),
    Sample("digits", "Digits: handwritten 8×8 images",
           "1,797 real handwritten digits (scikit-learn's copy of the UCI set): 64 pixel "
           "intensities 0-16 → digit 0-9 (10 classes).",
           "digits.tsv", None, tuple(f"p{i}" for i in range(64)) + ("digit",), "digit"),
)}


def get_sample(name: str) -> Sample:
    """The sample called `name`; ValueError lists the known names."""
    try:
        return SAMPLES[name]
    except KeyError:
        raise ValueError(f"unknown sample '{name}' (known: {', '.join(SAMPLES)})") from None
