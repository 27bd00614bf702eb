"""End to end: the real server indexes a real workspace in the background, reports it with
`$/progress`, keeps the index outside the tree and fresh from the editor, and completes."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.model

SERVER = [sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug"]

UTILS = textwrap.dedent('''\
    def parse_header(line: str, strict: bool = False) -> tuple[str, str]:
        """Split one header line into its name and value."""
        name, _, value = line.partition(":")
        return name.strip(), value.strip()
''')
APP = "from .utils import parse_header\n\n\ndef read(lines):\n    return [parse_header("


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "utils.py").write_text(UTILS)
    (root / "pkg" / "app.py").write_text(APP + "line) for line in lines]\n")
    (root / ".env").write_text("API_TOKEN=ghp_" + "a1B2c3D4" * 5 + "\n")
    return root


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-cache")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, default_model_path: Path, workspace: Path,
                 index_dir: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(autouse=True)
def _index_outside_the_home(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server (a child process) inherits it: its index goes to a temporary folder.
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(index_dir))


async def test_the_workspace_is_indexed_with_progress_and_completes(
        client: LanguageClient, workspace: Path, index_dir: Path) -> None:
    ready = asyncio.Event()

    @client.feature("tactful/status")
    def on_status(params: Any) -> None:
        if params.state in ("ready", "error"):
            ready.set()

    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True)),
        root_uri=workspace.as_uri(),
        initialization_options={"tactful": {"timeBudgetMs": 60_000}},
    ))
    await asyncio.wait_for(ready.wait(), 60)

    async def progress_ended() -> list[Any]:
        while True:
            for reports in client.progress_reports.values():
                if reports and reports[-1].kind == "end":
                    return reports
            await asyncio.sleep(0.05)

    reports = await asyncio.wait_for(progress_ended(), 30)
    assert reports[0].kind == "begin" and reports[0].title == "Tactful: indexing"
    assert "files indexed" in reports[-1].message

    # The index lives in the per-user cache, never in the user's tree, and holds no secret.
    databases = list(index_dir.rglob("index.db"))
    assert len(databases) == 1 and workspace not in databases[0].parents
    assert not list(workspace.rglob("*.db"))
    with sqlite3.connect(databases[0]) as db:
        indexed = dict(db.execute("SELECT path, skip FROM files").fetchall())
        assert indexed["pkg/utils.py"] is None and indexed[".env"] == "secret"
        leaked = db.execute("SELECT COUNT(*) FROM chunks WHERE text LIKE '%ghp_%'").fetchone()
        assert leaked[0] == 0

    # Unsaved text from the editor reaches the index: a function that is on no disk.
    uri = (workspace / "pkg" / "app.py").as_uri()
    text = "def only_in_the_editor(x):\n    return x\n\n\n" + APP
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=text)))

    async def indexed_from_editor() -> None:
        while True:
            with sqlite3.connect(databases[0]) as db:
                if db.execute("SELECT 1 FROM symbols WHERE name = 'only_in_the_editor'"
                              ).fetchone():
                    return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(indexed_from_editor(), 15)

    # And a completion with that context comes back (its text is the model's business).
    position = types.Position(line=text.count("\n"), character=len(APP.split("\n")[-1]))
    answer = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        ),
    )
    # An answer from the model (None would mean no engine), its items at the cursor.
    assert isinstance(answer, types.InlineCompletionList), answer
    assert all(item.range is not None and item.range.start == item.range.end == position
               and item.command is not None and item.command.command == "tactful.accept"
               for item in answer.items), answer
