"""End to end: the model's worker process dies or hangs, and the language server does not.

Real processes throughout: `tactful serve` over stdio, its real worker with the embedded
model, real signals. Nothing of the worker is faked; the only test hook is CRASH_ENV, which
makes the worker crash where a native fault would (as on a CPU with AMX).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from feedback.store import FeedbackStore
from models.worker import CRASH_ENV

pytestmark = pytest.mark.model

DATA_DIR = Path(os.environ["TACTFUL_DATA_DIR"]) / "worker-crash"
SERVER = [sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug"]
URI = "file:///tmp/worker_crash/stats.py"
# Long enough that, with the KV cache not reused, each completion evaluates a prompt of
# about a thousand tokens: a signal sent 0.3 s after the request finds the worker at work.
BODY = "".join(f"def scaled_{n}(values, factor):\n    return [v * factor + {n} for v in values]"
               "\n\n\n" for n in range(40))
TEXT = BODY + "def mean(values):\n    return "
LAST_LINE = TEXT.count("\n")
LAST_CHAR = len(TEXT.split("\n")[-1])


def worker_pids(server_pid: int) -> list[int]:
    """The server's model workers, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server_pid and b"models.worker" in cmdline:
            found.append(int(entry.name))
    return found


class Statuses:
    def __init__(self, client: LanguageClient) -> None:
        self.seen: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

        @client.feature("tactful/status")
        def on_status(params: Any) -> None:
            self.seen.append((params.state, getattr(params, "detail", "")))
            self.changed.set()

    async def wait_for(self, state: str, after: int = 0, timeout: float = 60) -> str:
        """The detail of the first `state` among the statuses from index `after` on."""
        deadline = time.monotonic() + timeout
        while True:
            for seen_state, detail in self.seen[after:]:
                if seen_state == state:
                    return detail
            self.changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"no {state!r} status; seen {self.seen}"
            await asyncio.wait_for(self.changed.wait(), left)


async def start(client: LanguageClient, **options: Any) -> Statuses:
    statuses = Statuses(client)
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"tactful": {"timeBudgetMs": 60_000, "kvCacheReuse": False,
                                            "prewarm": False, "acceptanceGate": False,
                                            **options}},
    ))
    await statuses.wait_for("ready")
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1,
                                             text=TEXT)))
    return statuses


def request(client: LanguageClient) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=LAST_LINE, character=LAST_CHAR),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        ))
    return future


def items(answer: Any) -> list[types.InlineCompletionItem]:
    if answer is None:
        return []
    return list(answer.items if isinstance(answer, types.InlineCompletionList) else answer)


def server_pid(client: LanguageClient) -> int:
    server = client._server
    assert server is not None
    return int(server.pid)


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER, server_env={**os.environ, "TACTFUL_DATA_DIR": str(DATA_DIR)},
))
async def client(lsp_client: LanguageClient, default_model_path: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
@pytest.mark.parametrize(("signum", "name"), [(signal.SIGSEGV, "SIGSEGV"),
                                              (signal.SIGKILL, "SIGKILL")])
async def test_a_worker_killed_mid_generation_costs_one_answer(
    client: LanguageClient, signum: int, name: str,
) -> None:
    statuses = await start(client)
    # An acknowledged accept before the crash: its row must survive it.
    first = items(await request(client))
    assert first and first[0].command is not None
    (accepted_id,) = first[0].command.arguments or []
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="tactful.accept", arguments=[accepted_id]))

    # The server itself never loads llama.cpp: only its worker maps the library.
    (worker,) = worker_pids(server_pid(client))
    assert "libllama" not in Path(f"/proc/{server_pid(client)}/maps").read_text()
    assert "libllama" in Path(f"/proc/{worker}/maps").read_text()
    before = len(statuses.seen)
    pending = request(client)
    await asyncio.sleep(0.3)  # the worker is evaluating the prompt now
    os.kill(worker, signum)
    # The request in flight is told why it gets nothing: what the status says.
    with pytest.raises(JsonRpcException) as failed:
        await asyncio.wait_for(pending, 30)
    assert failed.value.code == -32803

    error = await statuses.wait_for("error", before)
    assert f"exited with signal {int(signum)} ({name})" in error
    assert failed.value.message == error and "tactful doctor" in error
    await statuses.wait_for("loading", before)
    await statuses.wait_for("ready", before, timeout=30)
    (replacement,) = worker_pids(server_pid(client))
    assert replacement != worker

    answer = items(await asyncio.wait_for(request(client), 60))
    assert answer and str(answer[0].insert_text).strip()
    with FeedbackStore(DATA_DIR / "feedback.sqlite3") as store:
        row = store.get(accepted_id)
    assert row is not None and row["outcome"] == "accepted"


@pytest.mark.asyncio
async def test_a_hung_worker_is_replaced_by_the_watchdog(client: LanguageClient) -> None:
    statuses = await start(client, modelWatchdogSeconds=2)
    (worker,) = worker_pids(server_pid(client))
    os.kill(worker, signal.SIGSTOP)
    before = len(statuses.seen)
    try:
        with pytest.raises(JsonRpcException, match="hung"):
            await asyncio.wait_for(request(client), 30)
    finally:
        if worker in worker_pids(server_pid(client)):
            os.kill(worker, signal.SIGKILL)
    assert "hung" in await statuses.wait_for("error", before)
    await statuses.wait_for("ready", before, timeout=30)
    (replacement,) = worker_pids(server_pid(client))
    assert replacement != worker
    # On a loaded machine the new worker's progress frames can also be 2 s apart: the
    # watchdog goes back to its default before the request that must be answered.
    before = len(statuses.seen)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"tactful": {"modelWatchdogSeconds": 20}}))
    await statuses.wait_for("ready", before, timeout=60)
    answer = items(await asyncio.wait_for(request(client), 60))
    assert answer and str(answer[0].insert_text).strip()


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER, server_env={**os.environ, "TACTFUL_DATA_DIR": str(DATA_DIR),
                                       CRASH_ENV: "extra_bufts",
                                       "TACTFUL_PROBE_DIR": str(DATA_DIR / "probe-amx")},
))
async def amx_like_client(lsp_client: LanguageClient, default_model_path: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_where_extra_buffer_types_crash_the_probe_picks_the_safe_configuration(
    amx_like_client: LanguageClient,
) -> None:
    statuses = await start(amx_like_client)
    ready = await statuses.wait_for("ready")
    assert "configuration: safe (first-run probe: the fast configuration exited with signal 11" \
        in ready
    answer = items(await asyncio.wait_for(request(amx_like_client), 60))
    assert answer and str(answer[0].insert_text).strip()
    assert not any(state == "error" for state, _ in statuses.seen)


def test_tactful_complete_says_why_when_the_model_process_dies(
    tmp_path: Path, default_model_path: Path,
) -> None:
    source = tmp_path / "stats.py"
    source.write_text(TEXT)
    run = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "complete", f"{source}:{LAST_LINE + 1}:{LAST_CHAR + 1}"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, CRASH_ENV: "generate", "TACTFUL_PROBE_DIR": str(tmp_path / "probe")},
    )
    assert run.returncode == 1
    assert ("tactful: the model process exited with signal 11 (SIGSEGV); see tactful doctor"
            in run.stderr)
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_tactful_demo_stops_with_the_reason_when_the_model_process_dies(
    tmp_path: Path, default_model_path: Path,
) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "demo", "--positions", "3"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, CRASH_ENV: "generate", "TACTFUL_PROBE_DIR": str(tmp_path / "probe"),
             "TACTFUL_DATA_DIR": str(tmp_path / "data")},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the model process exited with signal 11 (SIGSEGV); see tactful doctor" in run.stderr
    assert "Traceback" not in run.stderr
    assert time.monotonic() - started < 90
