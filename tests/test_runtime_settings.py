"""Settings at run time: every setting takes effect through didChangeConfiguration, or the
server says that it needs a restart.

The table below has one case per setting: a value other than the default, and a probe of
the object that the next request reads (the engine's settings, the debounce, the gate, the
retriever, a reloaded back end, a rebuilt index). A setting added to lsp.config without a
case here fails `test_every_setting_has_a_case`. These run the real TactfulServer in this
process with a fake back end; the real server over stdio with the real model is in
test_runtime_settings_e2e below (marked `model`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_client import complete_at_end
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

import lsp.server as server_module
from context.indexer import index_workspace
from context.snippet import ContextQuery
from lsp import config as config_module
from lsp.config import LIVE, REINDEX, RESTART, SETTINGS, Config
from lsp.server import TactfulServer
from models.backend import GenerationParams, Prompt

# --- a server in this process, with a fake back end ----------------------------------------


class FakeBackend:
    """Loaded by the server where the real one would be; says which settings it got."""

    remote = False
    fim = None
    repo_layout = None
    context_size = 4096

    def __init__(self, config: Config) -> None:
        self.config = config
        self.closed = False

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def stream(self, prompt: Prompt, params: GenerationParams) -> Any:
        raise AssertionError("these tests make no completion")

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        return 0

    def describe(self) -> str:
        return f"fake {self.config.model}"

    def health(self) -> str | None:
        return None

    def close(self) -> None:
        self.closed = True


class Harness:
    def __init__(self, server: TactfulServer, backends: list[FakeBackend]) -> None:
        self.server = server
        self.backends = backends
        self.statuses: list[tuple[str, str]] = []
        self.messages: list[str] = []

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.02)
        return condition()

    async def settle(self) -> None:
        """Until what the model thread was given (loads, index stops) is done."""
        await asyncio.wrap_future(self.server.model_thread.submit(lambda: None))
        await asyncio.sleep(0.05)
        await self.server.wait_for_engine()

    async def change(self, settings: dict[str, Any]) -> None:
        self.server.apply_config({"tactful": settings})  # as did_change_config does
        await self.settle()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "util.py").write_text("def helper(x):\n    return x\n")
    (root / "notes.txt").write_text("notes\n")
    return root


@pytest.fixture
async def harness(tmp_path: Path, workspace: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(tmp_path / "index"))
    backends: list[FakeBackend] = []

    def load_backend(c: Config, *_: Any) -> FakeBackend:
        backends.append(FakeBackend(c))
        return backends[-1]

    monkeypatch.setattr(server_module, "load_backend", load_backend)
    # The index build in this process: the folder is tiny, a child costs more.
    monkeypatch.setattr(server_module, "index_workspace_in_child", index_workspace)
    root_logger = logging.getLogger()
    level = root_logger.level
    server = TactfulServer()
    h = Harness(server, backends)
    monkeypatch.setattr(server, "send_status",
                        lambda state, detail="": h.statuses.append((state, detail)))
    monkeypatch.setattr(server, "window_show_message",
                        lambda params: h.messages.append(params.message))
    server.apply_config({"tactful": {}})  # initialize
    server.start_feedback()
    server.add_folder(str(workspace))
    server.converge()  # initialized
    await h.settle()
    assert await h.until(lambda: all(f.live is not None and f.live.ready.is_set()
                                     for f in server.folders))
    assert len(backends) == 1 and h.statuses[-1] == ("ready", "fake smollm2-135m")
    yield h
    server.shutdown_model()
    root_logger.setLevel(level)


# --- the table ---------------------------------------------------------------------------


def _engine(h: Harness) -> Any:
    assert h.server.engine is not None
    return h.server.engine


def engine_setting(field: str, value: Any) -> Callable[[Harness], bool]:
    return lambda h: getattr(_engine(h).settings, field) == value


def gate_setting(field: str, value: Any) -> Callable[[Harness], bool]:
    def probe(h: Harness) -> bool:
        assert h.server.feedback is not None
        return getattr(h.server.feedback.gate.settings, field) == value
    return probe


def reloaded(field: str, value: Any) -> Callable[[Harness], bool]:
    """A new back end was loaded with the value, and the one before it closed."""
    def probe(h: Harness) -> bool:
        latest = h.backends[-1]
        return (len(h.backends) > 1 and getattr(latest.config, field) == value
                and h.backends[-2].closed and _engine(h).backend is latest
                and h.statuses[-2][0] == "loading" and h.statuses[-1][0] == "ready")
    return probe


def reindexed(check: Callable[[Any], bool]) -> Callable[[Harness], bool]:
    def probe(h: Harness) -> bool:
        return all(f.live is not None and check(f.live) for f in h.server.folders)
    return probe


def only_definitions(h: Harness) -> bool:
    """Retrieval gives nothing but definitions: here, where the suffix would come."""
    query = ContextQuery(path="pkg/app.py", language="python", prefix="def f():\n    ",
                         suffix="\n    y = 2\n    return y\n")
    found = h.server.retriever.snippets(query, 500, len)
    return all(s.source == "definition" for s in found)


def quiet(h: Harness) -> bool:
    s = h.server
    return (s.engine is None and h.backends[-1].closed and h.statuses[-1][0] == "disabled"
            and all(f.live is None for f in s.folders))


# client key -> (a value other than the default, whether it is in effect)
CASES: dict[str, tuple[Any, Callable[[Harness], bool]]] = {
    "enabled": (False, quiet),
    "engine": ({"kind": "llama.cpp", "url": "http://127.0.0.1:9"},
               reloaded("engine", {"kind": "llama.cpp", "url": "http://127.0.0.1:9"})),
    "model": ("other-model.gguf", reloaded("model", "other-model.gguf")),
    "nGpuLayers": (10, reloaded("n_gpu_layers", 10)),
    "threads": (2, reloaded("threads", 2)),
    "contextSize": (4096, reloaded("context_size", 4096)),
    "maxTokens": (32, engine_setting("max_tokens", 32)),
    "maxLines": (3, engine_setting("max_lines", 3)),
    "prefixTokens": (1000, engine_setting("prefix_tokens", 1000)),
    "suffixTokens": (200, engine_setting("suffix_tokens", 200)),
    "timeBudgetMs": (1234, engine_setting("time_budget_ms", 1234)),
    "kvCacheReuse": (False, reloaded("kv_cache_reuse", False)),
    "modelWatchdogSeconds": (30, reloaded("model_watchdog_s", 30)),
    "debounceMs": (120, lambda h: h.server.jobs.debounce.settings.fixed_ms == 120),
    "prewarm": (False, lambda h: h.server.jobs.prewarm is False),
    "contextTokens": (100, engine_setting("context_tokens", 100)),
    "contextSources": (["definition"], only_definitions),
    "indexEnabled": (False, lambda h: all(f.live is None for f in h.server.folders)),
    "indexExclude": (["*.txt"], reindexed(lambda live: live.excludes == ("*.txt",)
                                          and live.ready.is_set()
                                          and "notes.txt" not in live.index.paths())),
    "indexMaxFileBytes": (10, reindexed(lambda live: live.max_bytes == 10
                                        and live.ready.is_set()
                                        and not live.index.symbols_named(["helper"]))),
    "acceptanceGate": (False, gate_setting("enabled", False)),
    "aggressiveness": ("eager", gate_setting("aggressiveness", "eager")),
    "aggressivenessByLanguage": ({"markdown": "quiet"},
                                 gate_setting("by_language", {"markdown": "quiet"})),
    "suggestInComments": (False, gate_setting("in_comments", False)),
    "explorationPercent": (20, gate_setting("exploration", 0.2)),
    "personalize": (False, lambda h: h.server.feedback is not None
                    and h.server.feedback.personalize is False),
    "logCode": (True, lambda h: h.server.feedback is not None
                and h.server.feedback.store is not None
                and h.server.feedback.store.log_code is True),
    "logLevel": ("debug", lambda h: logging.getLogger().level == logging.DEBUG),
}


def test_every_setting_has_a_case() -> None:
    assert set(CASES) == {s.key for s in SETTINGS.values()}
    assert all(s.applies in config_module.APPLIES for s in SETTINGS.values())


@pytest.mark.parametrize("key", sorted(CASES))
async def test_a_change_applies_at_once_or_asks_for_a_restart(harness: Harness,
                                                              key: str) -> None:
    value, in_effect = CASES[key]
    setting = next(s for s in SETTINGS.values() if s.key == key)
    assert not in_effect(harness), "the probe must tell the new value from the old"
    loads = len(harness.backends)
    await harness.change({key: value})
    if setting.applies == RESTART:
        assert any(key in m and "restart" in m for m in harness.messages)
        return
    assert await harness.until(lambda: in_effect(harness)), f"{key}={value!r} not in effect"
    assert not [m for m in harness.messages if "restart" in m]
    if setting.applies in (LIVE, REINDEX) and key != "enabled":
        assert len(harness.backends) == loads, f"{key} reloaded the model"


async def test_a_setting_that_needs_a_restart_says_so_once_per_change(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SETTINGS, "max_lines",
                        dataclasses.replace(SETTINGS["max_lines"], applies=RESTART))
    await harness.change({"maxLines": 3})
    await harness.change({"maxLines": 3})  # the same again: nothing changed
    assert [m for m in harness.messages if "restart" in m] == [
        "Tactful: restart the server to apply maxLines"]
    await harness.change({"maxLines": 4})
    assert len([m for m in harness.messages if "restart" in m]) == 2


async def test_turned_off_then_on_again(harness: Harness) -> None:
    await harness.change({"enabled": False})
    await harness.change({"enabled": False, "maxTokens": 9})
    assert [s for s, _ in harness.statuses].count("disabled") == 1  # said once
    assert harness.server.engine is None and len(harness.backends) == 1
    await harness.change({"enabled": True})
    assert await harness.until(lambda: all(f.live is not None for f in harness.server.folders))
    assert len(harness.backends) == 2 and harness.statuses[-1] == ("ready", "fake smollm2-135m")
    assert _engine(harness).settings.max_tokens == 9


async def test_a_setting_changed_while_the_model_loads_is_not_lost(harness: Harness) -> None:
    harness.server.apply_config({"model": "other.gguf"})  # a reload starts
    harness.server.apply_config({"model": "other.gguf", "maxTokens": 7})  # and this meanwhile
    await harness.settle()
    assert _engine(harness).backend is harness.backends[-1]
    assert _engine(harness).settings.max_tokens == 7


def test_the_window_grows_only_when_the_budgets_no_longer_fit() -> None:
    # maxTokens 64 -> 32 keeps the window (no reload); 64 -> 900 needs a larger one.
    assert config_module.context_window(Config(max_tokens=32), True) == (
        config_module.context_window(Config(), True))
    assert config_module.context_window(Config(max_tokens=900), True) > (
        config_module.context_window(Config(), True))


async def test_a_budget_that_outgrows_the_window_reloads(harness: Harness) -> None:
    await harness.change({"maxTokens": 900})
    assert len(harness.backends) == 2 and harness.backends[0].closed
    assert _engine(harness).settings.max_tokens == 900


# --- the real server over stdio, the real model --------------------------------------------

SERVER = [sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug"]
CODE = textwrap.dedent('''\
    def fibonacci(n):
        """The n-th Fibonacci number."""
        if n < 2:
            return n
        return fibonacci(n - 1) + fibonacci(n - 2)


    def main():
        for i in range(10):
            print(''')


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, default_model_path: Path,
                 tmp_path: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(autouse=True)
def _index_outside_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(tmp_path / "index-cache"))


class Statuses:
    def __init__(self, client: LanguageClient) -> None:
        self.seen: list[Any] = []
        self.changed = asyncio.Event()

        @client.feature("tactful/status")
        def on_status(params: Any) -> None:
            self.seen.append(params)
            self.changed.set()

    async def wait_for(self, state: str, after: int = 0, timeout: float = 90) -> Any:
        async def found() -> Any:
            while True:
                for status in self.seen[after:]:
                    if status.state == state:
                        return status
                    if status.state == "error":
                        raise AssertionError(f"the model failed: {status.detail}")
                self.changed.clear()
                await self.changed.wait()
        return await asyncio.wait_for(found(), timeout)


async def start(client: LanguageClient, uri: str) -> Statuses:
    statuses = Statuses(client)
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"tactful": {"timeBudgetMs": 60_000, "acceptanceGate": False}},
    ))
    await statuses.wait_for("ready")
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=CODE)))
    return statuses


def change(client: LanguageClient, settings: dict[str, Any]) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"tactful": {"timeBudgetMs": 60_000, "acceptanceGate": False, **settings}}))


async def complete(client: LanguageClient, uri: str) -> list[types.InlineCompletionItem]:
    return await complete_at_end(client, uri, CODE)


def text_of(item: types.InlineCompletionItem) -> str:
    return item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value


@pytest.mark.model
async def test_e2e_a_model_change_reloads_it(client: LanguageClient, tmp_path: Path,
                                             default_model_path: Path) -> None:
    uri = (tmp_path / "fib.py").as_uri()
    statuses = await start(client, uri)
    assert "smollm2-135m" in statuses.seen[-1].detail
    before = len(statuses.seen)
    change(client, {"model": str(default_model_path)})  # the same weights, by their path
    loading = await statuses.wait_for("loading", before)
    assert default_model_path.name in loading.detail
    ready = await statuses.wait_for("ready", before)
    assert ready.detail.startswith(default_model_path.name)
    assert await complete(client, uri)  # the new one answers


@pytest.mark.model
async def test_e2e_turned_off_nothing_then_on_again(client: LanguageClient,
                                                    tmp_path: Path) -> None:
    uri = (tmp_path / "fib.py").as_uri()
    statuses = await start(client, uri)
    assert await complete(client, uri)
    before = len(statuses.seen)
    change(client, {"enabled": False})
    await statuses.wait_for("disabled", before)
    assert await complete(client, uri) == []
    before = len(statuses.seen)
    change(client, {"enabled": True})
    await statuses.wait_for("ready", before)  # loaded anew
    assert await complete(client, uri)


@pytest.mark.model
async def test_e2e_max_tokens_bounds_the_next_answer(client: LanguageClient,
                                                     tmp_path: Path) -> None:
    uri = (tmp_path / "fib.py").as_uri()
    await start(client, uri)
    unbounded = await complete(client, uri)
    assert unbounded and len(text_of(unbounded[0])) > 8  # several tokens
    change(client, {"maxTokens": 1})
    await asyncio.sleep(0.2)  # a notification has no answer: let it arrive
    bounded = await complete(client, uri)
    # One token of this model's vocabulary: a short piece of the answer before.
    assert all(len(text_of(i)) <= 8 for i in bounded), [text_of(i) for i in bounded]
