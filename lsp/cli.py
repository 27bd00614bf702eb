"""The `tactful` command. Each subcommand's help is its docstring."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from models.errors import ModelError

if TYPE_CHECKING:
    from context.retrieval import Retriever
    from feedback.store import FeedbackStore


def _setup_logging(level: str) -> None:
    # stderr only: in `serve`, stdout is the protocol.
    if _debug_wanted():
        level = "debug"
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _SafeRecords) for f in handler.filters):
            handler.addFilter(_SafeRecords())
    # pygls logs every message it sends at INFO; that is for debugging only.
    logging.getLogger("pygls").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # watchfiles logs each batch of file changes at INFO: many a second in a busy folder.
    logging.getLogger("watchfiles").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


class _SafeRecords(logging.Filter):
    """What any log level may write: no document text, no credential. pygls logs whole
    JSON-RPC messages (a document's text, a suggestion) at INFO and DEBUG: an argument of
    its records longer than a method name or an id is written as its size and hash. In
    every record, message and traceback, the lines that look like a secret are blanked."""

    SHORT = 80

    def filter(self, record: logging.LogRecord) -> bool:
        from context.secrets import redact

        if record.name.startswith("pygls") and record.args:
            if isinstance(record.args, tuple):
                record.args = tuple(_short_or_hashed(a, self.SHORT) for a in record.args)
            else:
                record.msg, record.args = _short_or_hashed(record.getMessage(), self.SHORT), ()
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = f"{clean} [lines that look like secrets removed]", ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def _short_or_hashed(value: object, short: int) -> object:
    text = str(value)
    if len(text) <= short and "\n" not in text:
        return value
    digest = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:12]
    return f"<{len(text)} chars, sha256 {digest}>"


class _CleanErrors(click.Group):
    """Expected failures (a model error, the network, the disk) become one line on stderr
    that says what happened and what to do, and exit status 1; `tactful --debug ...` shows
    the traceback instead. Anything else is a bug, and keeps its traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.UsageError, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own usage message, or an exit status on purpose
        except click.ClickException as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"tactful: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:
            message = _one_line(exc)
            if message is None or ctx.params.get("debug"):
                raise
            click.echo(f"tactful: {message}", err=True)
            sys.exit(1)


def _one_line(exc: Exception) -> str | None:
    """What happened and what to do, on one line; None for an error nobody expected."""
    import errno
    import sqlite3

    if isinstance(exc, ModelError):
        return " ".join(str(exc).split("\n"))
    package = type(exc).__module__.split(".")[0]
    if isinstance(exc, (ConnectionError, TimeoutError)) or package in ("httpx", "httpx2"):
        return f"network error ({_reason(exc)}): check the network and the address it used"
    if isinstance(exc, OSError):
        where = f"{exc.filename}" if exc.filename else "a file"
        what = exc.strerror or str(exc)
        hints = {
            errno.EACCES: "check its permissions, or choose another place",
            errno.EPERM: "check its permissions, or choose another place",
            errno.EROFS: "the file system is read-only: choose another place",
            errno.ENOTDIR: "a part of that path is a file, not a folder: choose another place",
            errno.ENOSPC: "free some disk space, or choose another place",
            errno.ENOENT: "check the path",
        }
        hint = hints.get(exc.errno or 0, "check the path and its permissions")
        return (f"cannot use {where} ({what}): {hint} (--out for outputs, TACTFUL_DATA_DIR "
                "and TACTFUL_INDEX_DIR for Tactful's own data)")
    if isinstance(exc, sqlite3.OperationalError):
        return (f"cannot use a database file ({exc}): check that its folder is writable, "
                "or set TACTFUL_DATA_DIR / TACTFUL_INDEX_DIR to one that is")
    return None


def _reason(exc: BaseException) -> str:
    """The innermost message in a chain of errors, on one line."""
    while (inner := exc.__cause__ or exc.__context__) is not None and str(inner).strip():
        exc = inner
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _debug_wanted() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


@click.group(cls=_CleanErrors)
@click.version_option(package_name="tactful")
@click.option("--debug", is_flag=True,
              help="Show tracebacks instead of one-line errors, and log at debug level "
                   "(llama.cpp's own messages included).")
def main(debug: bool) -> None:
    """Tactful: local inline code completion as a language server."""
    if debug:
        # The model worker logs at debug level too.
        os.environ.setdefault("TACTFUL_WORKER_LOG", "DEBUG")


@main.command()
@click.option("--tcp", is_flag=True, help="Listen on TCP (127.0.0.1 only) instead of stdio.")
@click.option("--port", default=2087, show_default=True, help="TCP port with --tcp.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(tcp: bool, port: int, log_level: str) -> None:
    """Run the language server on stdio (what editors start), or on 127.0.0.1 with --tcp."""
    _setup_logging(log_level)
    from lsp.handlers import create_server

    server = create_server()
    if tcp:
        # Never on another interface: the server reads the user's code.
        server.start_tcp("127.0.0.1", port)
    else:
        from lsp.framing import run_stdio
        from lsp.handlers import NOTIFICATIONS

        run_stdio(server, NOTIFICATIONS)


@main.command()
@click.argument("location")
@click.option("--model", default=None, help="Model name, .gguf path or hf: reference.")
@click.option("--invoked/--typed", default=True,
              help="As if the user asked (default) or as if they typed.")
@click.option("--workspace", default=None, type=click.Path(exists=True, file_okay=False),
              help="The workspace root (default: the enclosing git repository).")
def complete(location: str, model: str | None, invoked: bool, workspace: str | None) -> None:
    """Print the suggestion at FILE:LINE:COL (1-based, COL in characters) and its timing.

    Runs the same engine as the server, with the workspace's index for context; the
    suggestion goes to stdout, timings to stderr.
    """
    _setup_logging("warning")
    from completion.request import CompletionRequest
    from lsp.config import Config
    from lsp.server import _load_engine

    path, line, col = _parse_location(location)
    text = _read_source(path)
    offset = _offset_of(text, line, col)
    _check_model(model)
    retriever, root, relative = _workspace_retriever(path, workspace)
    config = Config() if model is None else Config(model=model)
    started = time.perf_counter()
    # A model process that dies is this command's error, not something to restart.
    engine = _load_engine(config, retriever, restart=False)
    load_ms = (time.perf_counter() - started) * 1000
    try:
        result = engine.complete(
            CompletionRequest(
                text=text, offset=offset, language=_language_of(path), path=relative,
                trigger="invoked" if invoked else "typed", workspace=root.name,
            )
        )
    finally:
        engine.backend.close()
    if result.suggestions:
        click.echo(result.suggestions[0].text)
    click.echo(
        f"[{engine.backend.name}: {result.reason}; load {load_ms:.0f} ms, "
        f"completion {result.timings.total_ms:.0f} ms, {result.generated_tokens} tokens]",
        err=True,
    )
    if not result.suggestions:
        sys.exit(2)


@main.group()
def models() -> None:
    """Known and installed models."""


@models.command("list")
def models_list() -> None:
    """Show the models Tactful knows and which are installed."""
    from models import registry, store

    click.echo(f"model directory: {store.model_dir()}")
    for spec in registry.known_models():
        mark = "installed" if store.is_installed(spec) else "-"
        default = " (default)" if spec.name == registry.DEFAULT_MODEL else ""
        rec = " recommended" if spec.recommended else ""
        click.echo(
            f"  {spec.name:<22} {mark:<10} {spec.source:<5}{rec} {spec.description}{default}"
        )
    click.echo("Any local GGUF also works: give its path as the model.")


@models.command("pull")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Download again even if installed.")
def models_pull(name: str | None, force: bool) -> None:
    """Download NAME (default: the default model) into the model directory, verified."""
    _setup_logging("warning")
    from models import registry, store

    name = name or registry.DEFAULT_MODEL
    path = store.pull(name, progress=_ProgressBar(), force=force)
    click.echo(str(path))


class _ProgressBar:
    """A one-line progress bar on stderr for each stage of a pull."""

    def __init__(self) -> None:
        self._stage = ""
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self._stage and done < total and now - self._last < 0.1:
            return
        self._stage, self._last = stage, now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"\r{stage:<10} [{bar:<30}] {frac:6.1%} {done / 1e6:7.1f}/{total / 1e6:.1f} MB"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@main.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", default=None, help="Model name, .gguf path or hf: reference.")
@click.option("--positions", default=10, show_default=True, help="How many places to complete.")
@click.option("--seed", default=0, show_default=True, help="Which places (deterministic).")
def demo(file: str | None, model: str | None, positions: int, seed: int) -> None:
    """Complete lines of a real file through the real server, and show what came back.

    Starts `tactful serve` over stdio as an editor would, opens FILE (default: a module of
    an installed package nobody here wrote), cuts lines at several places, asks for inline
    completions there, and prints each suggestion next to what the author wrote, with its
    latency. Pulls the model first if it is not installed.
    """
    _setup_logging("warning")
    from evaluation.demo import run_demo
    from models import registry, store

    name = model or registry.DEFAULT_MODEL
    if not name.endswith(".gguf"):
        store.pull(name, progress=_ProgressBar())
    run_demo(Path(file) if file else None, name, positions, seed)


@main.command()
@click.option("--model", default=None, help="The model to check (default: the default model).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def doctor(model: str | None, as_json: bool) -> None:
    """What a bug report needs: versions, llama.cpp's build, the CPU features that matter,
    GPU offload, the models, the first-run probe's verdict and the configuration in use,
    where the index and the feedback log are, and each problem found with its fix.

    Exits with status 1 when it found a problem that needs a fix.
    """
    _setup_logging("warning")
    from lsp.doctor import diagnose, format_report

    report = diagnose(model)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
    if any(not p["fix"].startswith("none needed") for p in report["problems"]):
        sys.exit(1)


@main.command("index")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--exclude", multiple=True, help="A gitignore-style pattern to leave out (repeat).")
@click.option("--max-bytes", default=1_000_000, show_default=True,
              help="Files larger than this are skipped.")
@click.option("--index-file", default=None, type=click.Path(dir_okay=False),
              help="Where the SQLite index lives (default: the per-user cache).")
@click.option("--rebuild", is_flag=True, help="Start from an empty index.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as one JSON object.")
def index_command(path: str, exclude: tuple[str, ...], max_bytes: int, index_file: str | None,
                  rebuild: bool, as_json: bool) -> None:
    """Build (or bring up to date) the index of the workspace at PATH and print its statistics."""
    _setup_logging("warning")
    import dataclasses

    from context.index import WorkspaceIndex, default_index_path
    from context.indexer import index_workspace

    root = Path(path).resolve()
    db_path = Path(index_file) if index_file else default_index_path(root)
    if rebuild:
        for stale in db_path.parent.glob(db_path.name + "*"):
            stale.unlink()
    index = WorkspaceIndex(db_path)

    def progress(done: int, total: int) -> None:
        if not as_json:
            click.echo(f"\rindexing {done}/{total} files", err=True, nl=False)

    report = index_workspace(root, index, exclude, max_bytes, progress)
    if not as_json:
        click.echo("", err=True)
    stats = index.stats()
    if as_json:
        click.echo(json.dumps({"report": dataclasses.asdict(report),
                               "stats": dataclasses.asdict(stats), "index": str(db_path)}))
        return
    rate = stats.lines / report.seconds if report.seconds else 0.0
    click.echo(f"workspace  {root}")
    click.echo(f"index      {db_path} ({stats.bytes_on_disk / 1e6:.1f} MB)")
    click.echo(f"this run   {report.seconds:.2f} s: {report.indexed} files indexed, "
               f"{report.unchanged} unchanged, {report.removed} removed"
               + (f" ({rate:,.0f} lines/s)" if report.indexed == stats.indexed else ""))
    click.echo(f"files      {stats.files} seen, {stats.indexed} indexed, {stats.lines:,} lines")
    for reason, n in sorted(stats.skipped.items()):
        click.echo(f"  skipped  {n} {reason}")
    for language, n in sorted(stats.languages.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {language:<9}{n} files")
    click.echo(f"symbols    {stats.symbols:,}")
    click.echo(f"imports    {stats.imports:,}")
    click.echo(f"chunks     {stats.chunks:,}")


@main.command("context")
@click.argument("location")
@click.option("--workspace", default=None, type=click.Path(exists=True, file_okay=False),
              help="The workspace root (default: the enclosing git repository).")
@click.option("--budget", default=384, show_default=True, help="Context tokens.")
@click.option("--model", default=None, help="The model whose tokenizer counts the budget.")
def context_command(location: str, workspace: str | None, budget: int,
                    model: str | None) -> None:
    """Print what retrieval would put in the prompt at FILE:LINE:COL, and why.

    Every candidate of every source is listed; those that fit the budget are marked `+`.
    """
    _setup_logging("warning")
    from completion.engine import EngineSettings, context_query
    from completion.request import CompletionRequest
    from context.retrieval import fit
    from models.llama import load_tokenizer

    path, line, col = _parse_location(location)
    text = _read_source(path)
    offset = _offset_of(text, line, col)
    _check_model(model)
    retriever, _, relative = _workspace_retriever(path, workspace)
    count = load_tokenizer(model)
    request = CompletionRequest(text=text, offset=offset, language=_language_of(path),
                                path=relative)
    settings = EngineSettings(context_tokens=budget)
    query = context_query(request, settings, count)
    started = time.perf_counter()
    candidates = retriever.retrieve(query)
    kept = fit(candidates, budget, count, retriever.settings.shares)
    elapsed = (time.perf_counter() - started) * 1000
    used = 0
    in_prompt = {(s.source, s.path, s.heading, s.reason): s for s in kept}
    for candidate in candidates:
        snippet = in_prompt.get((candidate.source, candidate.path, candidate.heading,
                                 candidate.reason))
        shown = snippet or candidate
        tokens = count(shown.heading) + count(shown.text)
        used += tokens if snippet else 0
        cut = snippet is not None and snippet.text != candidate.text
        click.echo(f"{'+' if snippet else '-'} [{shown.source}] {shown.heading} ({tokens} tokens"
                   + (", cut to fit)" if cut else ")"))
        click.echo(f"  why: {shown.reason}")
        for body_line in shown.text.split("\n"):
            click.echo(f"  | {body_line}")
    click.echo(f"# {len(kept)} of {len(candidates)} snippets, {used} of {budget} tokens, "
               f"retrieved in {elapsed:.1f} ms", err=True)


@main.group()
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
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def bench_replay(corpus: str, out: str, files: int, cps: float, naive: bool, gate: bool,
                 debounce: bool, settings: tuple[str, ...], seed: int, model: str | None,
                 engine: str, as_json: bool) -> None:
    """A simulated developer types held-out code through the real server."""
    _setup_logging("warning")
    from evaluation.replay import format_table, run_replay

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
    summary = run_replay(Path(corpus), Path(out), files=files, cps=cps, naive=naive,
                         seed=seed, model=model, gate=gate, server_options=options)
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


@main.command("stats")
@_LOG_OPTION
@_DAYS_OPTION
@click.option("--html", "html", default=None, type=click.Path(dir_okay=False),
              help="Also write a report with plots to this HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
def stats_command(log_path: str | None, days: float | None, html: str | None,
                  as_json: bool) -> None:
    """Acceptance, shown and hidden, latency and retention, by language and by day."""
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


@main.command("export")
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


@main.command("explain")
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


@main.group()
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


def _check_model(model: str | None) -> None:
    """A model that is not there fails the command before the workspace is indexed."""
    if model is not None:
        from models.store import resolve

        resolve(model)


def _workspace_retriever(path: Path, workspace: str | None) -> tuple[Retriever, Path, str]:
    """A retriever over the (freshly updated) index of the workspace around `path`, the
    workspace's root, and `path` relative to it."""
    from context.index import WorkspaceIndex, default_index_path
    from context.indexer import index_workspace, workspace_root_of
    from context.retrieval import Retriever

    root = Path(workspace).resolve() if workspace else workspace_root_of(path.resolve())
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise click.ClickException(f"{path} is not inside the workspace {root}") from None
    index = WorkspaceIndex(default_index_path(root))
    report = index_workspace(root, index)
    click.echo(f"[index of {root}: {report.indexed} files (re)indexed, {report.unchanged} "
               f"unchanged, in {report.seconds:.2f} s]", err=True)
    return Retriever(index), root, relative


def _parse_location(location: str) -> tuple[Path, int, int]:
    try:
        path, line, col = location.rsplit(":", 2)
        return Path(path), int(line), int(col)
    except ValueError:
        raise click.BadParameter(f"expected FILE:LINE:COL, got {location!r}") from None


def _read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    if b"\0" in data[:8192]:
        raise click.ClickException(f"{path} looks like a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text: {exc}") from None


def _offset_of(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise click.ClickException(f"line {line} is outside the file (1..{len(lines)})")
    if not 1 <= col <= len(lines[line - 1].rstrip("\r")) + 1:
        raise click.ClickException(
            f"column {col} is outside line {line} (1..{len(lines[line - 1]) + 1})"
        )
    return sum(len(s) + 1 for s in lines[: line - 1]) + col - 1


def _language_of(path: Path) -> str:
    from context.languages import language_for_path

    return language_for_path(str(path)) or "plaintext"


if __name__ == "__main__":
    main()
