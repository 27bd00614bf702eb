"""The `tactful` subcommands that measure rather than serve: the benchmarks (`bench ...`),
the predictor's training (`predictor ...`) and the feedback log's reports (`stats`,
`export`, `explain`). lsp.cli attaches them to the `tactful` command (`attach`), whose
one-line errors and log set-up they share.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evaluation.habits import HABITS

if TYPE_CHECKING:
    from feedback.store import FeedbackStore

LogSetup = Callable[[str], None]


def _plain_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper())


# The `tactful` command's log set-up (redacting, --debug aware), given by `attach`: it lives
# in lsp.cli, which evaluation may not import.
_log_setup: dict[str, LogSetup] = {"setup": _plain_logging}


def _setup_logging(level: str) -> None:
    _log_setup["setup"](level)


def attach(group: click.Group, setup_logging: LogSetup) -> None:
    """Add these commands to `group` (the `tactful` command), logging with `setup_logging`."""
    _log_setup["setup"] = setup_logging
    for command in (bench, predictor, stats_command, export_command, explain_command):
        group.add_command(command)


@click.group()
def bench() -> None:
    """Benchmarks on real code nobody here wrote: quality, typing replay, predictor."""


def _emit(summary: dict[str, object], table: str, as_json: bool) -> None:

    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(table)


@bench.command("quality")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A file of name==version lines of PyPI packages.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for results.json, results.md and the plots.")
@click.option("--limit", default=100, show_default=True, help="How many masked spans.")
@click.option("--seed", default=0, show_default=True)
@click.option("--strategies", default="prefix,jaccard,tactful", show_default=True,
              help="Comma-separated: prefix, fim, jaccard, tactful, tactful-as-comments, "
              "tactful-without-SOURCE (definition, outline, similar, edit, suffix).")
@click.option("--levels", default="line_rest,line,statement,expression,block",
              show_default=True, help="Comma-separated span levels to mask.")
@click.option("--model", default=None, help="Model name, .gguf path or hf: reference.")
@click.option("--context-tokens", type=int, default=None,
              help="Of the prompt budget, at most this much for retrieved context "
              "(default: the server's, 384).")
@click.option("--engine", default="embedded", show_default=True,
              help='The engine setting: "embedded", or a server as a JSON object.')
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_quality(corpus: str, out: str, limit: int, seed: int, strategies: str, levels: str,
                  model: str | None, context_tokens: int | None, engine: str,
                  as_json: bool) -> None:
    """Mask spans of real packages with tree-sitter and compare prompt strategies."""
    _setup_logging("warning")
    from dataclasses import replace

    from evaluation.quality import BENCH_SETTINGS, format_table, run_quality

    settings = (BENCH_SETTINGS if context_tokens is None
                else replace(BENCH_SETTINGS, context_tokens=context_tokens))
    summary = run_quality(
        Path(corpus), Path(out), limit=limit, seed=seed,
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        model=model, levels=tuple(v.strip() for v in levels.split(",") if v.strip()),
        settings=settings, engine=_engine_option(engine),
    )
    _emit(summary, format_table(summary), as_json)


@bench.command("merge")
@click.argument("runs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for the merged results.json, results.md and the plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_merge(runs: tuple[str, ...], out: str, as_json: bool) -> None:
    """One table of several `bench quality` runs over the same tasks, paired across runs."""
    _setup_logging("warning")
    from evaluation.quality import format_table, merge_runs

    try:
        summary = merge_runs([Path(r) for r in runs], Path(out))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(summary, format_table(summary), as_json)


@bench.command("contention")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Where the prompts are cut from (the first long Python file).")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--busy", default="0,1,2", show_default=True,
              help="Busy-looping processes beside the model, one run each.")
@click.option("--completions", default=4, show_default=True)
@click.option("--model", default=None, help="Model name or .gguf path.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_contention(corpus: str, out: str, busy: str, completions: int, model: str | None,
                     as_json: bool) -> None:
    """Time completions with other processes on the cores: fixed threads against threads 0."""
    _setup_logging("warning")
    from evaluation.contention import format_table, run_contention
    from evaluation.corpus import load_corpus

    counts = tuple(int(n) for n in busy.split(",") if n.strip())
    summary = run_contention(load_corpus(Path(corpus)), Path(out), model=model, busy=counts,
                             completions=completions)
    _emit(summary, format_table(summary), as_json)


@bench.command("stream")
@click.option("--runs", default=20, show_default=True, help="Generations timed each way.")
@click.option("--tokens", default=48, show_default=True, help="Tokens per generation.")
@click.option("--model", default=None, help="Model name or .gguf path (default: the default).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def bench_stream(runs: int, tokens: int, model: str | None, as_json: bool) -> None:
    """What the model's worker process adds to each streamed token, against llama.cpp run
    in this process on the same tokens."""
    _setup_logging("warning")
    from evaluation.stream_overhead import format_result, measure
    from models.registry import DEFAULT_MODEL

    result = measure(model or DEFAULT_MODEL, runs, tokens)
    click.echo(json.dumps(result) if as_json else format_result(result))


@bench.command("index")
@click.option("--corpus", "corpora", required=True, multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="A corpus file (repeat to index several corpora as one workspace).")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--edits", default=50, show_default=True, help="Files edited and re-indexed.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_index(corpora: tuple[str, ...], out: str, edits: int, seed: int,
                as_json: bool) -> None:
    """Time a full index of the corpora's packages and the re-index of one edited file."""
    _setup_logging("warning")
    from evaluation.corpus import load_corpus
    from evaluation.index_bench import format_table, run_index_bench

    packages = [p for corpus in corpora for p in load_corpus(Path(corpus))]
    summary = run_index_bench(packages, Path(out), edits, seed)
    _emit(summary, format_table(summary), as_json)


@bench.command("first-build")
@click.option("--workspace", required=True, type=click.Path(exists=True, file_okay=False),
              help="The folder opened as the workspace (e.g. an unpacked sdist).")
@click.option("--file", "file", default=None,
              help="The file typed in, relative to the workspace (default: the largest .py).")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--runs", default=2, show_default=True, help="Pairs of cold and warm starts.")
@click.option("--seconds", default=30.0, show_default=True, help="Typing per start.")
@click.option("--cps", default=10.0, show_default=True, help="Keys per second.")
@click.option("--model", default=None, help="Model name or GGUF path (default: the server's).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_first_build(workspace: str, file: str | None, out: str, runs: int, seconds: float,
                      cps: float, model: str | None, as_json: bool) -> None:
    """Type through the real server while it builds a workspace's index from nothing, and
    again with the index built: how soon and how often suggestions come."""
    _setup_logging("warning")
    from evaluation.first_build import format_table, run_first_build

    if file is not None and not (Path(workspace) / file).is_file():
        raise click.BadParameter(f"no file {file} in {workspace}", param_hint="--file")
    summary = run_first_build(Path(workspace), Path(out), Path(file) if file else None, runs,
                              seconds, cps, model)
    _emit(summary, format_table(summary), as_json)


@bench.command("replay")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--files", default=4, show_default=True, help="How many held-out regions.")
@click.option("--cps", default=10.0, show_default=True, help="Typing speed, characters/s.")
@click.option("--think-s", type=click.FloatRange(min=0), default=None,
              help="Seconds the developer pauses to think before a line's first key "
                   "[default: 4 key intervals, 0.4 s at 10 chars/s].")
@click.option("--naive", is_flag=True,
              help="No KV-cache reuse, gate, debounce, pre-warming or speculation.")
@click.option("--gate/--no-gate", default=True, show_default=True,
              help="The acceptance predictor's gates.")
@click.option("--debounce/--no-debounce", default=True, show_default=True,
              help="The adaptive debounce (off: every request goes to the model at once).")
@click.option("--set", "settings", multiple=True, metavar="KEY=JSON",
              help="A server setting for the run, e.g. --set maxTokens=24 (repeatable).")
@click.option("--seed", default=0, show_default=True)
@click.option("--model", default=None, help="Model name, .gguf path or hf: reference.")
@click.option("--engine", default="embedded", show_default=True,
              help='The engine setting: "embedded", or a server as a JSON object.')
@click.option("--persona", default="exact", show_default=True,
              type=click.Choice(list(HABITS)),
              help="The developer's habit (a right suggestion is taken only if it "
                   "allows): " + "; ".join(f"{name} {described}"
                                           for name, (_, described) in HABITS.items()) + ".")
@click.option("--sessions", default=1, show_default=True, type=click.IntRange(min=1),
              help="Sets of --files regions typed in a row against one server and one "
                   "feedback log (set k uses seed SEED+k-1); --json adds every set's "
                   "figures as `sets`.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_replay(corpus: str, out: str, files: int, cps: float, think_s: float | None,
                 naive: bool, gate: bool, debounce: bool, settings: tuple[str, ...], seed: int,
                 model: str | None, engine: str, persona: str, sessions: int,
                 as_json: bool) -> None:
    """A simulated developer types held-out code through the real server."""
    _setup_logging("warning")
    from evaluation.corpus import load_corpus
    from evaluation.replay import format_table, replay_packages
    from evaluation.typist import Pacing

    pacing = None if think_s is None else Pacing(cps=cps, newline_pause=think_s * cps)

    options: dict[str, object] = {} if debounce else {"debounceMs": 0}
    if engine != "embedded":
        options["engine"] = _engine_option(engine)
    for item in settings:
        key, _, value = item.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            raise click.BadParameter(f"{item!r}: the value must be JSON",
                                     param_hint="--set") from None
    summary = replay_packages(load_corpus(Path(corpus)), Path(out), files=files, cps=cps,
                              naive=naive, seed=seed, model=model, gate=gate,
                              server_options=options, corpus=corpus, persona=persona,
                              sessions=sessions, pacing=pacing)
    _emit(summary, format_table(summary), as_json)


@bench.command("team")
@click.option("--engine", required=True, help="The shared server, as the engine setting's "
              'JSON object: {"kind": "llama.cpp", "url": "http://127.0.0.1:8012"}.')
@click.option("--typists", default="1,2,4,8", show_default=True,
              help="How many developers type at once, each count in turn.")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--regions", default=1, show_default=True, help="Regions each developer types.")
@click.option("--cps", default=10.0, show_default=True, help="Typing speed, characters/s.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_team(engine: str, typists: str, corpus: str, out: str, regions: int, cps: float,
               seed: int, as_json: bool) -> None:
    """N developers, each with a `tactful serve` of their own, share one inference server:
    latency, acceptance, server throughput and each one's prompt-cache reuse."""
    _setup_logging("warning")
    from evaluation.team import format_table, run_team

    server = _engine_option(engine)
    if not isinstance(server, dict):
        raise click.BadParameter("a server's JSON object", param_hint="--engine")
    counts = [int(n) for n in typists.split(",") if n.strip()]
    summary = run_team(Path(corpus), Path(out), server, counts, regions_each=regions, cps=cps,
                       seed=seed)
    _emit(summary, format_table(summary), as_json)


@bench.command("outage")
@click.option("--corpus", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--model", default=None, help="The model llama-server serves (default: the "
              "embedded one).")
@click.option("--kill-after", default=30.0, show_default=True,
              help="Seconds of typing before the server is killed.")
@click.option("--down", default=10.0, show_default=True,
              help="Seconds before it is started again.")
@click.option("--files", default=4, show_default=True, help="Regions typed, one per file.")
@click.option("--cps", default=10.0, show_default=True, help="Typing speed, characters/s.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_outage(corpus: str, out: str, model: str | None, kill_after: float, down: float,
                 files: int, cps: float, seed: int, as_json: bool) -> None:
    """A llama-server on loopback is killed mid-typing and comes back: the language
    server's status, how soon suggestions resume, and the feedback log kept whole."""
    _setup_logging("warning")
    from evaluation.outage import format_table, run_outage
    from models import registry, store

    path = store.resolve(model or registry.DEFAULT_MODEL).path
    summary = run_outage(Path(corpus), Path(out), path, kill_after=kill_after, down=down,
                         files=files, cps=cps, seed=seed)
    _emit({k: v for k, v in summary.items() if k != "requests"}, format_table(summary),
          as_json)


@bench.command("fuzz")
@click.option("--messages", default=10000, show_default=True, help="How many to send.")
@click.option("--seed", default=0, show_default=True, help="Which messages (deterministic).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The workspace, the server's log and report.json go here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def bench_fuzz(messages: int, seed: int, out: str, as_json: bool) -> None:
    """Seeded malformed messages against the real server over stdio: deaths, unanswered
    requests, stray stdout, memory, and a completion afterwards."""
    _setup_logging("warning")
    from evaluation.fuzz import format_report, run_fuzz

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run_fuzz(messages, seed, folder / "workspace", folder / "server.log"))
    data = report.to_json()
    (folder / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    _emit(data, format_report(report), as_json)
    if not report.passed:
        sys.exit(1)


def _engine_option(value: str) -> object:
    """--engine: "embedded", or a server's JSON object, checked as the setting is."""
    from models.remote import parse_engine

    engine: object = value
    if value != "embedded":
        try:
            engine = json.loads(value)
        except json.JSONDecodeError:
            raise click.BadParameter("not JSON", param_hint="--engine") from None
    try:
        parse_engine(engine)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--engine") from None
    return engine


@bench.command("predictor")
@click.option("--train", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Events in the CUPS format (gzipped JSON lines).")
@click.option("--test", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("--cv-by-user", is_flag=True, help="Cross-validate on --train, grouped by user.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_predictor(train: str, test: str | None, cv_by_user: bool, seed: int,
                    as_json: bool) -> None:
    """Train the acceptance predictor on one file, report AUC and hiding on another."""
    from evaluation.predictor_bench import format_table, run_predictor_bench

    if not cv_by_user and test is None:
        raise click.UsageError("give --test FILE, or --cv-by-user")
    summary = run_predictor_bench(Path(train), Path(test) if test else None,
                                  cv_by_user=cv_by_user, seed=seed)
    _emit(summary, format_table(summary), as_json)


@bench.command("personas")
@click.option("--log", "log_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The feedback log of a replay (OUT/data/feedback.sqlite3).")
@click.option("--cups", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CUPS telemetry: a prior on half the users, personas from the rest.")
@click.option("--history", default=100, show_default=True,
              help="Events the personal model learns from before it is judged.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
def bench_personas(log_path: str | None, cups: str | None, history: int,
                   as_json: bool) -> None:
    """Prior against personalized predictor, for simulated users with one habit each."""
    from evaluation.personas import format_table, run_cups_personas, run_personas

    if (log_path is None) == (cups is None):
        raise click.UsageError("give one of --log FILE or --cups FILE")
    try:
        results = (run_personas(Path(log_path), history) if log_path
                   else run_cups_personas(Path(cups or ""), history))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(results, format_table(results), as_json)


@bench.command("shaped-model")
@click.argument("out", required=False, type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights.")
def bench_shaped_model(out: str | None, seed: int) -> None:
    """Write a GGUF shaped like Qwen2.5-Coder-0.5B Q8_0 with random weights, to time it.

    Speed only: the weights are random and the tokenizer is SmolLM2's. Default OUT: the
    model cache. Use it as `tactful bench replay --model OUT`.
    """
    try:
        from evaluation.shaped_model import QWEN25_CODER_05B, default_path, write_shaped_gguf
    except ModuleNotFoundError as exc:  # gguf comes with the dev extra only
        raise click.ClickException(f"{exc}: pip install gguf") from None
    from models.store import resolve

    tokenizer = resolve("smollm2-135m").path  # its vocabulary is borrowed
    path = write_shaped_gguf(Path(out) if out else default_path(), tokenizer, seed=seed)
    click.echo(str(path))
    click.echo(f"{path.stat().st_size / 1e6:.0f} MB, Q8_0, seed {seed}")
    click.echo(QWEN25_CODER_05B.describe())


def _feedback_store(path: str | None) -> FeedbackStore:
    from feedback.paths import default_feedback_path
    from feedback.store import FeedbackStore

    target = Path(path) if path else default_feedback_path()
    if not target.exists():
        raise click.ClickException(
            f"no feedback log at {target} yet: it is written once the server has completed")
    try:
        return FeedbackStore(target)
    except Exception as exc:
        raise click.ClickException(f"cannot open the feedback log {target}: {exc}") from None


def _since(days: float | None) -> float | None:
    return None if days is None else time.time() - days * 86400


_LOG_OPTION = click.option("--log", "log_path", default=None, type=click.Path(dir_okay=False),
                           help="The feedback log [default: the user's own].")
_DAYS_OPTION = click.option("--days", default=None, type=float,
                            help="Only the last DAYS days.")


@click.command("stats")
@_LOG_OPTION
@_DAYS_OPTION
@click.option("--html", "html", default=None, type=click.Path(dir_okay=False),
              help="Also write a report with plots to this HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
def stats_command(log_path: str | None, days: float | None, html: str | None,
                  as_json: bool) -> None:
    """Acceptance, shown and hidden, latency and retention, by language and by day; and
    what the gate did: calls skipped, suggestions hidden, and what that saved or cost."""
    from feedback.report import write_html_report
    from feedback.stats import compute_stats, format_stats

    store = _feedback_store(log_path)
    try:
        stats = compute_stats(store, since=_since(days))
        if as_json:
            click.echo(json.dumps(stats.summary(), indent=2))
        else:
            click.echo(format_stats(stats))
        if html:
            written = write_html_report(store, Path(html), since=_since(days))
            click.echo(f"wrote {written}", err=True)
    finally:
        store.close()


@click.command("export")
@_LOG_OPTION
@_DAYS_OPTION
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]),
              default="jsonl", show_default=True)
@click.option("--language", default=None, help="Only this languageId.")
@click.option("--out", default="-", show_default=True,
              help="Output file; - writes jsonl or csv to stdout.")
def export_command(log_path: str | None, days: float | None, fmt: str, language: str | None,
                   out: str) -> None:
    """Every logged completion, one row each, for evaluation (code only if logCode was on)."""
    from feedback.export import export

    if out == "-" and fmt == "parquet":
        raise click.UsageError("parquet needs --out FILE")
    store = _feedback_store(log_path)
    try:
        target = sys.stdout if out == "-" else Path(out)
        n = export(store, fmt, target, since=_since(days), language=language)  # type: ignore[arg-type]
    finally:
        store.close()
    click.echo(f"{n} rows", err=True)


@click.command("explain")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@_LOG_OPTION
@click.option("--limit", default=20, show_default=True, help="How many decisions.")
def explain_command(file: str | None, log_path: str | None, limit: int) -> None:
    """Why suggestions were shown or not: the last decisions, with their probabilities."""
    from feedback.explain import explain_rows

    store = _feedback_store(log_path)
    try:
        rows = explain_rows(store, Path(file).resolve() if file else None, limit)
    finally:
        store.close()
    if not rows:
        click.echo("No decisions logged" + (f" for {file}" if file else "") + " yet.")
    for line in rows:
        click.echo(line)


@click.group()
def predictor() -> None:
    """The acceptance predictor: build the prior that ships in the package."""


@predictor.command("train")
@click.option("--cups", "cups", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Telemetry in the CUPS format (gzipped JSON lines); repeat for more.")
@click.option("--feedback", "feedback", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="A feedback store (feedback.sqlite3), e.g. of a replay; repeat for more.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Where to write the models [default: the package's prior].")
@click.option("--seed", default=0, show_default=True)
def predictor_train(cups: tuple[str, ...], feedback: tuple[str, ...], out: str | None,
                    seed: int) -> None:
    """Fit gate 1 and gate 2 on real decisions, export them to ONNX, write the report."""
    from completion.predictor.train import PRIOR_DIR
    from evaluation.prior import train_prior

    target = Path(out) if out else PRIOR_DIR
    try:
        report = train_prior([Path(p) for p in cups], [Path(p) for p in feedback], target,
                             seed=seed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.get("leave_one_user_out_table", ""))
    click.echo(f"wrote {target}/pre.onnx, post.onnx, report.json, report.md")
