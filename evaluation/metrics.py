"""Completion quality metrics and bootstrap confidence intervals."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))


def exact_match(prediction: str, target: str) -> float:
    return float(normalize(prediction) == normalize(target))


def exact_match_first_line(prediction: str, target: str) -> float:
    first = normalize(target).split("\n", 1)[0]
    return float(normalize(prediction).split("\n", 1)[0] == first)


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(prediction: str, target: str) -> float:
    p, t = normalize(prediction), normalize(target)
    if not p and not t:
        return 1.0
    return 1.0 - levenshtein(p, t) / max(len(p), len(t))


def identifier_f1(prediction: str, target: str) -> float:
    p = Counter(_IDENTIFIER.findall(prediction))
    t = Counter(_IDENTIFIER.findall(target))
    if not p and not t:
        return 1.0
    common = sum((p & t).values())
    if not common:
        return 0.0
    precision = common / sum(p.values())
    recall = common / sum(t.values())
    return 2 * precision * recall / (precision + recall)


def bootstrap_ci(values: Sequence[float], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
    """95% interval of the mean, by resampling tasks."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def paired_relative_ci(
    a: Sequence[float], b: Sequence[float], seed: int = 0, rounds: int = 1000
) -> tuple[float, float, float]:
    """Relative difference mean(a)/mean(b) - 1 with a 95% paired-bootstrap interval."""
    n = len(a)
    if n == 0 or sum(b) == 0:
        return (float("nan"), float("nan"), float("nan"))
    rng = random.Random(seed)
    point = sum(a) / sum(b) - 1
    ratios = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        sb = sum(b[i] for i in idx)
        if sb:
            ratios.append(sum(a[i] for i in idx) / sb - 1)
    ratios.sort()
    if not ratios:
        return (point, float("nan"), float("nan"))
    return point, ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0..1), linear between closest ranks; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
