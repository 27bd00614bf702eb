"""The `tactful` command. Each subcommand's help is its docstring."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evaluation.cli import attach
from models.errors import ModelError

if TYPE_CHECKING:
    from context.retrieval import Retriever


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

    path, text, offset = _open_location(location)
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

    path, text, offset = _open_location(location)
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


def _open_location(location: str) -> tuple[Path, str, int]:
    """FILE:LINE:COL (1-based) as the file, its text and the offset there."""
    path, line, col = _parse_location(location)
    text = _read_source(path)
    return path, text, _offset_of(text, line, col)


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


# The benchmarks, the predictor and the feedback reports (evaluation.cli).
attach(main, _setup_logging)

if __name__ == "__main__":
    main()
