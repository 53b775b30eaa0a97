"""Regenerate the sample data sets in data/: `python data/make_samples.py`.

The files mimic the raw form of James McCaffrey's PyTorch articles: tab-separated,
no header, label in the LAST column. The synthetic sets (students, people,
employees, blobs) are drawn from fixed seeds, so reruns give identical files. Each
label is a noisy, mildly nonlinear function of several features (categoricals
included), tuned so a small 2-hidden-layer MLP lands around 75-90% test accuracy.
digits.tsv holds the real 8x8 handwritten digits bundled with scikit-learn.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent


def write_tsv(name: str, rows: list[list[str]]) -> None:
    """Write rows as tab-separated lines, '\\n' endings, trailing newline, no header."""
    text = "".join("\t".join(r) + "\n" for r in rows)
    (DATA_DIR / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {name}: {len(rows)} rows")


def pick(rng: np.random.Generator, logits: np.ndarray, temp: float) -> np.ndarray:
    """Sample one class per row from softmax(logits / temp): argmax plus Gumbel noise."""
    return np.argmax(logits / temp + rng.gumbel(size=logits.shape), axis=1)


def students(rng: np.random.Generator, n: int) -> list[list[str]]:
    """sex, units, state, score -> major (finance / geology / history)."""
    sex = rng.integers(0, 2, n)                       # 0 = M, 1 = F
    state = rng.integers(0, 3, n)                     # maryland, nebraska, oklahoma
    units = np.round(rng.uniform(10, 100, n) * 2) / 2
    score = np.clip(rng.normal(550, 130, n), 200, 900).round().astype(int)
    u, s = (units - 55) / 25, (score - 550) / 130
    logits = np.stack([
        1.6 * s + 1.0 * (state == 0) - 0.6 * sex,                  # finance: high score, maryland
        1.8 - 1.8 * u**2 + 1.2 * (state == 2) - 0.3 * s,           # geology: mid units, oklahoma
        1.2 * u - 0.8 * s + 1.0 * (state == 1) + 0.8 * sex,        # history: many units, nebraska, F
    ], axis=1)
    major = pick(rng, logits, 0.45)
    return [["MF"[a], f"{b:.1f}", ("maryland", "nebraska", "oklahoma")[c], str(d),
             ("finance", "geology", "history")[e]]
            for a, b, c, d, e in zip(sex, units, state, score, major)]


def people(rng: np.random.Generator, n: int) -> list[list[str]]:
    """age, state, income, politics -> sex (M / F)."""
    age = rng.integers(18, 71, n)
    state = rng.integers(0, 3, n)                     # michigan, nebraska, oklahoma
    pol = rng.integers(0, 3, n)                       # conservative, moderate, liberal
    income = 20000 + 900 * (age - 18) + rng.normal(0, 12000, n)
    income = np.minimum(20000 + np.abs(income - 20000), 90000)  # reflect, no pile at 20000
    income = (income / 100).round().astype(int) * 100
    a, inc = (age - 44) / 15, (income - 50000) / 18000
    logit = (-1.4 * inc + 1.2 * (pol == 2) - 1.0 * (pol == 0) + 1.6 * a * (state == 1)
             - 1.6 * np.abs(a) * (state == 2))
    female = pick(rng, np.stack([np.zeros(n), logit], axis=1), 0.5)
    return [[str(a_), ("michigan", "nebraska", "oklahoma")[b], str(c),
             ("conservative", "moderate", "liberal")[d], "MF"[e]]
            for a_, b, c, d, e in zip(age, state, income, pol, female)]


def employees(rng: np.random.Generator, n: int) -> list[list[str]]:
    """sex, age, city, income -> job (mgmt / supp / tech)."""
    sex = rng.integers(0, 2, n)                       # 0 = M, 1 = F
    city = rng.integers(0, 3, n)                      # anaheim, boulder, concord
    age = rng.integers(20, 66, n)
    income = 25000 + 800 * (age - 20) + rng.normal(0, 14000, n)
    income = np.minimum(20000 + np.abs(income - 20000), 95000)
    income = (income / 100).round().astype(int) * 100
    a, inc = (age - 42) / 13, (income - 55000) / 18000
    logits = np.stack([
        1.5 * a + 1.0 * inc + 0.8 * (city == 2) - 0.4 * sex,        # mgmt: older, paid
        -1.6 * inc + 0.9 * (city == 0) + 0.6 * sex - 0.7,          # supp: low income
        2.0 - 1.8 * a**2 + 1.2 * inc * (a < 0) + 1.2 * (city == 1) - 0.5 * sex,  # tech: young-ish
    ], axis=1)
    job = pick(rng, logits, 0.55)
    return [["MF"[a_], str(b), ("anaheim", "boulder", "concord")[c], str(d),
             ("mgmt", "supp", "tech")[e]]
            for a_, b, c, d, e in zip(sex, age, city, income, job)]


def blobs(rng: np.random.Generator, n: int) -> list[list[str]]:
    """x1, x2 -> class (A-D): four Gaussian blobs that overlap a little."""
    centers = np.array([[-2.0, -1.0], [2.0, -1.5], [-1.5, 2.0], [1.5, 1.5]])
    cls = np.repeat(np.arange(4), n // 4)
    rng.shuffle(cls)
    xy = centers[cls] + rng.normal(0, 1.2, (n, 2))
    return [[f"{x:.3f}", f"{y:.3f}", "ABCD"[c]] for (x, y), c in zip(xy, cls)]


def digits() -> list[list[str]]:
    """Real 8x8 handwritten digits from scikit-learn: 64 pixels (0..16), then the digit."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("digits.tsv needs scikit-learn (a dev dependency): "
                         "pip install -r requirements-dev.txt") from None
    d = load_digits()
    return [[str(int(v)) for v in x] + [str(int(y))] for x, y in zip(d.data, d.target)]


def main() -> None:
    # Seeds picked so the 40-row test sets are typical draws, not lucky or unlucky ones.
    for name, make, seed in (("students", students, 12), ("people", people, 7),
                             ("employees", employees, 10)):
        rows = make(np.random.default_rng(seed), 240)
        write_tsv(f"{name}_train.tsv", rows[:200])
        write_tsv(f"{name}_test.tsv", rows[200:])
    write_tsv("blobs.tsv", blobs(np.random.default_rng(4), 1000))
    write_tsv("digits.tsv", digits())


if __name__ == "__main__":
    main()
