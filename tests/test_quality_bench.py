"""The quality benchmark: corpus files, masked-span tasks, metrics, and a small real run."""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import cast

import pytest

from completion.engine import EngineSettings
from evaluation import metrics
from evaluation.corpus import CorpusError, Package, read_corpus
from evaluation.quality import Row, engine_for, merge_runs, run_quality_on
from evaluation.tasks import LEVELS, candidates, sample_tasks
from models.backend import ModelBackend

SOURCE = '''import os


def load(path, mode="r"):
    """Read a file."""
    with open(path, mode) as f:
        data = f.read()
    if not data:
        raise ValueError("empty file: " + path)
    return data.splitlines()
'''


def test_corpus_file_parsing(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("# comment\nattrs==26.1.0\n\nh11 == 0.16.0  # trailing\n")
    assert read_corpus(corpus) == [("attrs", "26.1.0"), ("h11", "0.16.0")]
    corpus.write_text("attrs\n")
    with pytest.raises(CorpusError, match="name==version"):
        read_corpus(corpus)


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_masks_a_real_span(level: str) -> None:
    spans = list(candidates(SOURCE, level))
    assert spans, level
    for start, end in spans:
        target = SOURCE[start:end]
        assert target.strip()
        if level in ("line_rest", "line", "expression"):
            assert "\n" not in target
    if level == "expression":
        assert ("path, mode" in [SOURCE[s:e] for s, e in spans])
    if level == "block":
        # The cursor sits after the indentation of the body's first line.
        start, _ = spans[0]
        assert SOURCE[SOURCE.rfind("\n", 0, start) + 1 : start].isspace()


@pytest.fixture
def package(tmp_path: Path) -> Package:
    """A real installed package (nobody here wrote it), as a corpus package."""
    spec = importlib.util.find_spec("sqlite_utils")
    assert spec is not None and spec.submodule_search_locations
    root = tmp_path / "sqlite_utils_pkg"
    shutil.copytree(spec.submodule_search_locations[0], root / "sqlite_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return Package("sqlite-utils", "installed", root)


def test_sampling_is_deterministic_and_spread(package: Package) -> None:
    first = sample_tasks([package], 20, seed=3)
    again = sample_tasks([package], 20, seed=3)
    other = sample_tasks([package], 20, seed=4)
    assert [t.id for t in first] == [t.id for t in again]
    assert [t.id for t in first] != [t.id for t in other]
    assert len({t.path for t in first}) > 1 and len({t.level for t in first}) == len(LEVELS)
    for t in first:
        source = (package.root / t.path).read_text()
        assert t.prefix + t.target + t.suffix == source


def test_metrics() -> None:
    assert metrics.exact_match("x = 1  \n", "x = 1") == 1.0
    assert metrics.exact_match_first_line("a()\nb()", "a()\nc()") == 1.0
    assert metrics.edit_similarity("abc", "abd") == pytest.approx(2 / 3)
    assert metrics.identifier_f1("foo(bar)", "foo(baz)") == pytest.approx(0.5)
    lo, hi = metrics.bootstrap_ci([0.0, 1.0] * 50)
    assert lo < 0.5 < hi
    point, lo, hi = metrics.paired_relative_ci([1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0])
    assert point == pytest.approx(0.5) and lo <= point <= hi


@pytest.mark.model
def test_a_small_real_run_writes_its_outputs(
    package: Package, tmp_path: Path, default_model_path: Path
) -> None:
    out = tmp_path / "out"
    summary = run_quality_on([package], out, limit=6, seed=0,
                             strategies=("prefix", "fim", "jaccard", "tactful"), model=None)
    assert summary["skipped"] == ["fim"]  # the embedded model has no FIM
    for name in ("prefix", "jaccard", "tactful"):
        entry = summary["strategies"][name]
        assert entry["n"] == 6
        assert 0.0 <= entry["exact_match"] <= 1.0
        assert entry["latency_ms_p50"] > 0
    # jaccard's prompt carries snippets from other files: it must be longer than prefix's.
    assert (summary["strategies"]["jaccard"]["prompt_tokens_mean"]
            > summary["strategies"]["prefix"]["prompt_tokens_mean"])
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == 18
    assert (out / "results.md").read_text().count("|") > 10
    assert (out / "quality.png").stat().st_size > 1000


def test_tactful_as_comments_differs_from_tactful_only_by_the_layout() -> None:
    backend = cast(ModelBackend, object())  # engines only keep it until they complete
    tactful = engine_for("tactful", backend, EngineSettings(), None)
    comments = engine_for("tactful-as-comments", backend, EngineSettings(), None)
    assert tactful is not None and comments is not None
    assert tactful.settings.use_repo_layout and not comments.settings.use_repo_layout
    assert comments.settings == EngineSettings(use_repo_layout=False)
    assert comments.context is not None


def _run_dir(root: Path, name: str, strategy: str, hits: list[float], tasks: list[str]) -> Path:
    rows = [asdict(Row(task=t, level="line", strategy=strategy, prediction="x", target="x",
                       exact_match=h, exact_match_first_line=h, edit_similarity=h,
                       identifier_f1=h, generated_tokens=1, prompt_tokens=10, latency_ms=1.0))
            for t, h in zip(tasks, hits, strict=True)]
    run = root / name
    run.mkdir()
    (run / "results.json").write_text(json.dumps(
        {"summary": {"model": "m", "corpus": "c", "seed": 0}, "rows": rows}))
    return run


def test_runs_over_the_same_tasks_merge_into_one_paired_table(tmp_path: Path) -> None:
    tasks = [f"t{i}" for i in range(10)]
    a = _run_dir(tmp_path, "a", "tactful", [1.0] * 4 + [0.0] * 6, tasks)
    b = _run_dir(tmp_path, "b", "tactful-without-outline", [1.0] * 2 + [0.0] * 8, tasks)
    summary = merge_runs([a, b], tmp_path / "merged")
    assert list(summary["strategies"]) == ["tactful", "tactful-without-outline"]
    assert summary["relative"]["tactful_vs_tactful-without-outline"]["exact_match"] == 1.0
    assert summary["tasks"] == 10 and (tmp_path / "merged" / "results.md").is_file()
    other = _run_dir(tmp_path, "c", "prefix", [0.0] * 10, [f"u{i}" for i in range(10)])
    with pytest.raises(ValueError, match="other tasks"):
        merge_runs([a, other], tmp_path / "bad")
    with pytest.raises(ValueError, match="has no results"):
        merge_runs([a, tmp_path / "merged" / "nothing"], tmp_path / "bad")
