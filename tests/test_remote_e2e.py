"""End to end: `tactful serve` with a remote engine, against real inference servers on
127.0.0.1 (no mock HTTP server): llama-cpp-python's OpenAI-compatible server, and
llama.cpp's llama-server built from the pinned sdist (evaluation/servers.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from test_shaped_model import TINY

from evaluation.lsp_session import ServerSession, first_item, item_text
from evaluation.servers import free_port, llama_server, llama_server_path, openai_server
from evaluation.shaped_model import write_shaped_gguf

pytestmark = pytest.mark.model

TEXT = ("import os\n\n\ndef read_config(path):\n    with open(path) as f:\n"
        "        return f.read()\n\n\ndef main():\n    config = read_config(")
# Canaries: what the secrets filter must keep off the network (and the index keeps out).
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PEM = "-----BEGIN RSA PRIVATE KEY-----"
SECRET_TEXT = (f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nGITHUB = "{GITHUB_TOKEN}"\n'
               f'KEY = """{PEM}\nMIIEowIBAAKCAQEA7bq0\n-----END RSA PRIVATE KEY-----"""\n\n' + TEXT)


@pytest.fixture(scope="module")
def openai_url(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[str]:
    log = tmp_path_factory.mktemp("openai") / "server.log"
    with openai_server(default_model_path, name="smollm2-135m", log=log) as url:
        yield url


class Recorder:
    """A TCP relay on 127.0.0.1 in front of a real server, keeping the bytes sent to it."""

    def __init__(self, target: str) -> None:
        host_port = target.split("//", 1)[1].split("/", 1)[0]
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.sent = bytearray()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       record: bool) -> None:
            while data := await src.read(65536):
                if record:
                    self.sent += data
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False),
                             return_exceptions=True)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Any]:
    sessions: list[ServerSession] = []

    async def start(engine: dict[str, Any], **options: Any) -> ServerSession:
        s = ServerSession({"engine": engine, "timeBudgetMs": 30_000, **options},
                          env={"TACTFUL_DATA_DIR": str(tmp_path / "data")},
                          stop_on_error=False)
        sessions.append(s)
        await s.start()
        return s

    yield start
    for s in sessions:
        await s.stop()


def query(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The server's feedback log, read as `tactful export` or datasette would."""
    with closing(sqlite3.connect(tmp_path / "data" / "feedback.sqlite3")) as db:
        return db.execute(sql).fetchall()


async def complete(s: ServerSession, uri: str, text: str) -> str:
    lines = text.split("\n")
    answer = await s.inline_completion(uri, len(lines) - 1, len(lines[-1]), invoked=True)
    item = first_item(answer)
    return item_text(item) if item else ""


@pytest.mark.asyncio
async def test_an_openai_compatible_server_completes_through_the_same_pipeline(
    session: Any, openai_url: str, tmp_path: Path,
) -> None:
    s = await session({"kind": "openai", "url": openai_url, "model": "smollm2-135m"})
    assert s.statuses[-1]["state"] == "ready"
    assert "OpenAI-compatible server at" in s.statuses[-1]["detail"]
    uri = (tmp_path / "config.py").as_uri()
    s.open(uri, TEXT)
    suggestion = await complete(s, uri, TEXT)
    assert suggestion.strip()
    await asyncio.sleep(0.5)
    rows = query(tmp_path, "select mean_logprob, min_logprob from completions")
    # The gate saw the server's log-probabilities.
    assert rows and all(mean is not None and mean <= 0 for mean, _ in rows)


@pytest.mark.asyncio
async def test_no_secret_reaches_the_server(session: Any, openai_url: str,
                                            tmp_path: Path) -> None:
    recorder = Recorder(openai_url)
    port = await recorder.start()
    try:
        s = await session({"kind": "openai", "url": f"http://127.0.0.1:{port}/v1",
                           "model": "smollm2-135m"})
        uri = (tmp_path / "settings.py").as_uri()
        s.open(uri, SECRET_TEXT)
        await complete(s, uri, SECRET_TEXT)
    finally:
        recorder.stop()
    sent = bytes(recorder.sent)
    assert b"read_config" in sent  # the code went, as it should
    for canary in (AWS_KEY, GITHUB_TOKEN, PEM, "MIIEowIBAAKCAQEA7bq0"):
        assert canary.encode() not in sent


@pytest.mark.asyncio
async def test_an_unreachable_server_is_an_error_status_and_an_empty_answer(
    session: Any, tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s = await session({"kind": "llama.cpp", "url": url, "timeoutMs": 2000})
    errors = [x for x in s.statuses if x["state"] == "error"]
    assert errors and url in errors[0]["detail"] and "cannot reach" in errors[0]["detail"]
    assert "is the server running" in errors[0]["detail"]  # and what to do
    uri = (tmp_path / "config.py").as_uri()
    s.open(uri, TEXT)
    started = asyncio.get_running_loop().time()
    # Each request is answered with the status's words (LSP's RequestFailed), promptly.
    for _ in range(2):
        with pytest.raises(JsonRpcException) as failed:
            await complete(s, uri, TEXT)
        assert failed.value.code == -32803 and failed.value.message == errors[0]["detail"]
    assert asyncio.get_running_loop().time() - started < 5
    # The status is told once, not on every request.
    assert len([x for x in s.statuses if x["state"] == "error"]) == 1


@pytest.mark.asyncio
async def test_completions_resume_when_the_server_comes_back(
    session: Any, default_model_path: Path, tmp_path: Path,
) -> None:
    port = free_port()
    uri = (tmp_path / "config.py").as_uri()
    with openai_server(default_model_path, name="smollm2-135m", port=port):
        s = await session({"kind": "openai", "url": f"http://127.0.0.1:{port}/v1",
                           "model": "smollm2-135m"})
        s.open(uri, TEXT)
        assert (await complete(s, uri, TEXT)).strip()
    with pytest.raises(JsonRpcException, match="cannot reach"):
        await complete(s, uri, TEXT)  # the server is down
    assert any("cannot reach" in x["detail"] for x in s.statuses if x["state"] == "error")
    with openai_server(default_model_path, name="smollm2-135m", port=port):
        await asyncio.sleep(2.5)  # past the backoff of the failures so far
        assert (await complete(s, uri, TEXT)).strip()
        assert s.statuses[-1]["state"] == "ready"


needs_llama_server = pytest.mark.skipif(
    not llama_server_path().is_file() and not os.environ.get("TACTFUL_BUILD_LLAMA_SERVER"),
    reason="llama-server is not built (python -m evaluation.servers build, as .ci/run does)",
)


@pytest.fixture(scope="module")
def shaped_fim_model(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Qwen2.5-Coder-shaped model with random weights: it carries the FIM tokens."""
    return write_shaped_gguf(tmp_path_factory.mktemp("shaped") / "tiny.gguf",
                             default_model_path, seed=0, shape=TINY)


@needs_llama_server
@pytest.mark.asyncio
async def test_llama_server_fills_in_the_middle_through_infill(
    session: Any, shaped_fim_model: Path, tmp_path: Path,
) -> None:
    with llama_server(shaped_fim_model, log=tmp_path / "llama-server.log") as url:
        recorder = Recorder(url)
        port = await recorder.start()
        try:
            s = await session({"kind": "llama.cpp", "url": f"http://127.0.0.1:{port}"})
            assert "(fill-in-the-middle)" in s.statuses[-1]["detail"]
            uri = (tmp_path / "config.py").as_uri()
            s.open(uri, TEXT)
            await complete(s, uri, TEXT)  # random weights: any text, but a real answer
            await asyncio.sleep(0.5)
        finally:
            recorder.stop()
    ((reason, mean_logprob),) = query(tmp_path, "select reason, mean_logprob from completions")
    assert reason in ("shown", "empty_after_postprocess") and mean_logprob is not None
    sent = bytes(recorder.sent)
    assert sent.count(b"POST /infill") == 2  # the check at start, then the completion
    assert b'"input_prefix":"# config.py\\nimport os' in sent
    assert b'"prompt":"    config = read_config(' in sent


@needs_llama_server
@pytest.mark.asyncio
async def test_llama_server_without_fim_falls_back_to_the_prefix(
    session: Any, default_model_path: Path, tmp_path: Path,
) -> None:
    with llama_server(default_model_path, log=tmp_path / "llama-server.log") as url:
        s = await session({"kind": "llama.cpp", "url": url})
        assert "(prefix only)" in s.statuses[-1]["detail"]
        uri = (tmp_path / "config.py").as_uri()
        s.open(uri, TEXT)
        assert (await complete(s, uri, TEXT)).strip()
