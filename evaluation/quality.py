"""`tactful bench quality`: masked spans of real packages, several prompt strategies, one model.

Every strategy runs the same engine (the code the editor reaches) on the same tasks with
the same model, token budget, stop rules and post-processing; only the prompt differs:

- `prefix`: the code before the cursor, nothing else (the prompt of llm-ls and Code4Me);
- `fim`: prefix and suffix in the model's FIM template (only for models that have one);
- `jaccard`: sliding-window Jaccard snippets from the package's other files (Copilot's
  and Continue's prompt), then the file's path and prefix;
- `tactful`: the project's own pipeline as the server runs it: the workspace index of the
  package and every retrieval source (`context.retrieval`);
- `tactful-without-SOURCE` (`definition`, `outline`, `similar`, `edit`): the same with
  one source left out, for the ablation;
- `tactful-as-comments`: the same context as commented snippets even where the model
  has a repository layout (`<file_sep>`), to weigh the layout itself.

The task's own file enters the index as the editor would send it: the masked text, not
the file on disk, so the target never leaks into the context.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from completion.engine import CompletionEngine, ContextSource, EngineSettings
from completion.request import CompletionRequest
from context.index import WorkspaceIndex
from context.indexer import index_workspace
from context.retrieval import SOURCES, RetrievalSettings, Retriever
from context.similar import SimilarCode
from evaluation import metrics
from evaluation.corpus import Package, load_corpus
from evaluation.tasks import LEVELS, Task, sample_tasks
from models.backend import ModelBackend
from models.factory import open_backend
from models.settings import LlamaSettings
from models.store import resolve

# The engine's settings in the bench: room for a block, and no time budget cutting a
# suggestion short on a busy machine.
BENCH_SETTINGS = EngineSettings(max_tokens=64, time_budget_ms=10_000)
STRATEGIES = ("prefix", "fim", "jaccard", "tactful", "tactful-as-comments",
              *(f"tactful-without-{source}" for source in SOURCES))


@dataclass
class Row:
    task: str
    level: str
    strategy: str
    prediction: str
    target: str
    exact_match: float
    exact_match_first_line: float
    edit_similarity: float
    identifier_f1: float
    generated_tokens: int
    prompt_tokens: int
    latency_ms: float


def engine_for(strategy: str, backend: ModelBackend, base: EngineSettings,
               similar: ContextSource | None,
               index: WorkspaceIndex | None = None) -> CompletionEngine | None:
    """The engine a strategy runs; None where the strategy does not apply to the model."""
    if strategy == "prefix":
        return CompletionEngine(backend, replace(base, file_header=False, use_fim=False))
    if strategy == "fim":
        if backend.fim is None:
            return None
        return CompletionEngine(backend, replace(base, file_header=False))
    if strategy == "jaccard":
        # Copilot's prompt: the snippets as comments, whatever the model's layout.
        return CompletionEngine(backend, replace(base, use_fim=False, use_repo_layout=False),
                                similar)
    if strategy == "tactful-as-comments":
        return CompletionEngine(backend, replace(base, use_repo_layout=False), Retriever(index))
    if strategy == "tactful" or strategy.startswith("tactful-without-"):
        left_out = strategy.removeprefix("tactful").removeprefix("-without-")
        if left_out and left_out not in SOURCES:
            raise ValueError(f"unknown retrieval source {left_out!r}; known: {SOURCES}")
        settings = RetrievalSettings(sources=tuple(s for s in SOURCES if s != left_out))
        return CompletionEngine(backend, base, Retriever(index, settings))
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")


def run_quality(
    corpus: Path,
    out: Path,
    limit: int = 100,
    seed: int = 0,
    strategies: tuple[str, ...] = ("prefix", "jaccard", "tactful"),
    model: str | None = None,
    levels: tuple[str, ...] = LEVELS,
    settings: EngineSettings | None = None,
    engine: Any = "embedded",
) -> dict[str, Any]:
    packages = load_corpus(corpus)
    return run_quality_on(packages, out, limit, seed, strategies, model, levels, settings,
                          corpus_name=str(corpus), engine=engine)


def run_quality_on(
    packages: list[Package],
    out: Path,
    limit: int,
    seed: int,
    strategies: tuple[str, ...],
    model: str | None,
    levels: tuple[str, ...] = LEVELS,
    settings: EngineSettings | None = None,
    corpus_name: str = "",
    engine: Any = "embedded",
) -> dict[str, Any]:
    """With a server as `engine`, the same tasks go to it (it serves its own model; `model`
    names the local one the embedded engine would run)."""
    from models.registry import DEFAULT_MODEL

    model_name = model or DEFAULT_MODEL
    settings_ = LlamaSettings()
    if engine == "embedded":
        resolved = resolve(model_name)
        settings_ = LlamaSettings(fim=resolved.spec.fim if resolved.spec else None)
    backend = open_backend(engine, model_name, settings_)
    base = settings or BENCH_SETTINGS
    tasks = sample_tasks(packages, limit, seed, levels)
    similar = {p.label: _similar_index(p) for p in packages}
    indexes = ({p.label: _workspace_index(p, out) for p in packages}
               if any(s.startswith("tactful") for s in strategies) else {})
    try:
        rows, skipped = _run_strategies(backend, strategies, base, tasks, similar, indexes,
                                        model_name)
    finally:
        backend.close()
    summary = summarize(rows, [s for s in strategies if s not in skipped], seed)
    summary.update(model=model_name, engine=engine, corpus=corpus_name, tasks=len(tasks),
                   seed=seed, skipped=skipped, levels=list(levels),
                   packages=[p.label for p in packages])
    write_outputs(out, rows, summary)
    return summary


def _run_strategies(backend: ModelBackend, strategies: tuple[str, ...], base: EngineSettings,
                    tasks: list[Task], similar: dict[str, SimilarCode],
                    indexes: dict[str, WorkspaceIndex],
                    model_name: str) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    skipped: list[str] = []
    started = time.monotonic()
    for strategy in strategies:
        engines = {label: engine_for(strategy, backend, base, index, indexes.get(label))
                   for label, index in similar.items()}
        if any(e is None for e in engines.values()):
            skipped.append(strategy)
            print(f"[quality] {strategy}: not applicable to {model_name} (no FIM)",
                  file=sys.stderr)
            continue
        for n, task in enumerate(tasks, start=1):
            engine = engines[task.package]
            assert engine is not None
            rows.append(_run_task(engine, task, strategy, indexes.get(task.package)))
            if n % 10 == 0 or n == len(tasks):
                print(f"[quality] {strategy}: {n}/{len(tasks)} tasks, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    return rows, skipped


def _similar_index(package: Package) -> SimilarCode:
    files = {}
    for f in package.python_files():
        try:
            files[str(f.relative_to(package.root))] = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
    return SimilarCode(files)


def _workspace_index(package: Package, out: Path) -> WorkspaceIndex:
    """The package's index, built as the server builds a workspace's (fresh each run)."""
    path = out / "index" / package.label / "index.db"
    for stale in path.parent.glob("index.db*"):
        stale.unlink()
    index = WorkspaceIndex(path)
    index_workspace(package.root, index)
    return index


def _run_task(engine: CompletionEngine, task: Task, strategy: str,
              index: WorkspaceIndex | None) -> Row:
    if index is not None:
        # As in the editor: the open document's unsaved text is what the index holds.
        index.update_file(task.path, task.prefix + task.suffix, "python")
    try:
        return _complete_task(engine, task, strategy)
    finally:
        if index is not None:
            original = task.prefix + task.target + task.suffix
            index.update_file(task.path, original, "python")


def _complete_task(engine: CompletionEngine, task: Task, strategy: str) -> Row:
    request = CompletionRequest(
        text=task.prefix + task.suffix,
        offset=len(task.prefix),
        language="python",
        path=task.path,
        trigger="invoked",
        workspace=task.package.split("==")[0],
    )
    result = engine.complete(request)
    prediction = result.suggestions[0].text if result.suggestions else ""
    return Row(
        task=task.id,
        level=task.level,
        strategy=strategy,
        prediction=prediction,
        target=task.target,
        exact_match=metrics.exact_match(prediction, task.target),
        exact_match_first_line=metrics.exact_match_first_line(prediction, task.target),
        edit_similarity=metrics.edit_similarity(prediction, task.target),
        identifier_f1=metrics.identifier_f1(prediction, task.target),
        generated_tokens=result.generated_tokens,
        prompt_tokens=result.prompt_tokens,
        latency_ms=result.timings.total_ms,
    )


METRICS = ("exact_match", "exact_match_first_line", "edit_similarity", "identifier_f1")


def summarize(rows: list[Row], strategies: list[str], seed: int) -> dict[str, Any]:
    by: dict[str, list[Row]] = {s: [r for r in rows if r.strategy == s] for s in strategies}
    out: dict[str, Any] = {"strategies": {}, "relative": {}, "by_level": {}}
    for s, rs in by.items():
        entry: dict[str, Any] = {"n": len(rs)}
        for m in METRICS:
            values = [getattr(r, m) for r in rs]
            entry[m] = statistics.fmean(values) if values else 0.0
            entry[f"{m}_ci95"] = list(metrics.bootstrap_ci(values, seed))
        latencies = [r.latency_ms for r in rs]
        entry["latency_ms_p50"] = metrics.percentile(latencies, 0.5) or 0.0
        entry["latency_ms_p95"] = metrics.percentile(latencies, 0.95) or 0.0
        entry["generated_tokens_mean"] = (
            statistics.fmean(r.generated_tokens for r in rs) if rs else 0.0
        )
        entry["prompt_tokens_mean"] = statistics.fmean(r.prompt_tokens for r in rs) if rs else 0.0
        out["strategies"][s] = entry
        out["by_level"][s] = {
            level: statistics.fmean(r.exact_match for r in rs if r.level == level)
            for level in sorted({r.level for r in rs})
        }
    for a in strategies:
        for b in strategies:
            if a == b:
                continue
            pa = [r.exact_match for r in by[a]]
            pb = [r.exact_match for r in by[b]]
            if len(pa) == len(pb):
                point, lo, hi = metrics.paired_relative_ci(pa, pb, seed)
                out["relative"][f"{a}_vs_{b}"] = {"exact_match": point, "ci95": [lo, hi]}
    return out


def format_table(summary: dict[str, Any]) -> str:
    lines = [
        "| strategy | n | exact match | EM first line | edit similarity | identifier F1 "
        "| latency p50 ms | tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in summary["strategies"].items():
        def cell(m: str, e: dict[str, Any] = e) -> str:
            lo, hi = e[f"{m}_ci95"]
            return f"{e[m]:.3f} [{lo:.3f}, {hi:.3f}]"

        lines.append(
            f"| {name} | {e['n']} | {cell('exact_match')} | {cell('exact_match_first_line')} "
            f"| {cell('edit_similarity')} | {cell('identifier_f1')} "
            f"| {e['latency_ms_p50']:.0f} | {e['generated_tokens_mean']:.1f} |"
        )
    if summary["relative"]:
        lines += ["", "| exact match, relative | difference | 95% interval |", "|---|---|---|"]
        for pair, r in summary["relative"].items():
            lo, hi = r["ci95"]
            lines.append(f"| {pair.replace('_vs_', ' vs ')} | {r['exact_match']:+.1%} "
                         f"| [{lo:+.1%}, {hi:+.1%}] |")
    return "\n".join(lines)


def write_outputs(out: Path, rows: list[Row], summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "rows": [asdict(r) for r in rows]}, indent=1)
    )
    (out / "results.md").write_text(
        f"# Quality: {summary.get('model', '')} on {summary.get('corpus', '')}\n\n"
        + format_table(summary) + "\n"
    )
    _plot(out, summary)


def merge_runs(runs: list[Path], out: Path, seed: int = 0) -> dict[str, Any]:
    """One summary of several runs over the same tasks (e.g. an ablation run in parts):
    the strategies side by side, with paired intervals across runs."""
    rows: list[Row] = []
    tasks: list[str] | None = None
    meta: dict[str, Any] = {}
    for run in runs:
        if not (run / "results.json").is_file():
            raise ValueError(f"{run} has no results.json of `tactful bench quality`")
        data = json.loads((run / "results.json").read_text())
        run_rows = [Row(**r) for r in data["rows"]]
        seen = {r.strategy for r in rows}
        for strategy in dict.fromkeys(r.strategy for r in run_rows):
            if strategy in seen:
                continue  # the first run that has a strategy gives its rows
            mine = [r for r in run_rows if r.strategy == strategy]
            order = [r.task for r in mine]
            if tasks is None:
                tasks = order
            elif order != tasks:
                raise ValueError(f"{run} ran other tasks than {runs[0]}: not comparable")
            rows += mine
        meta = meta or data["summary"]
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    summary = summarize(rows, strategies, seed)
    summary.update({k: meta[k] for k in ("model", "corpus", "seed", "levels") if k in meta},
                   tasks=len(tasks or []), merged_from=[str(r) for r in runs])
    write_outputs(out, rows, summary)
    return summary


def _plot(out: Path, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["strategies"])
    if not names:
        return
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.5))
    for ax, m in zip(axes, METRICS, strict=True):
        values = [summary["strategies"][n][m] for n in names]
        cis = [summary["strategies"][n][f"{m}_ci95"] for n in names]
        errors = [[v - lo for v, (lo, _) in zip(values, cis, strict=True)],
                  [hi - v for v, (_, hi) in zip(values, cis, strict=True)]]
        ax.bar(names, values, yerr=errors, capsize=4, color="#4c72b0")
        ax.set_title(m.replace("_", " "))
        ax.set_ylim(0, 1)
    fig.suptitle(f"{summary.get('model', '')}: {summary.get('tasks', 0)} masked spans")
    fig.tight_layout()
    fig.savefig(out / "quality.png", dpi=100)
    plt.close(fig)
