"""Workspace folders: one index per folder, and a document's context from its own folder.

Unit tests drive the retriever and the server's folder bookkeeping in this process; the
end-to-end test starts the real server over stdio with the real model, in a workspace of
two folders, adds a third at run time and removes it, and reads which folder each
request's context came from in the server's debug log ("context {json}" lines).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_client import Wire, complete_at_end
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from context.edits import RecentEdits
from context.index import WorkspaceIndex
from context.retrieval import CONTEXT_LOG, WorkspaceRetriever
from context.snippet import ContextQuery, Snippet
from lsp.handlers import create_server
from lsp.server import TactfulServer


def util(name: str) -> str:
    return textwrap.dedent(f'''\
        def {name}_only(value: int) -> int:
            """Only the {name} folder has it."""
            return value
    ''')


def app(name: str) -> str:
    return f"from .util import {name}_only\n\n\ndef run(x):\n    return {name}_only("


# --- the retriever ---------------------------------------------------------------------


def indexed(tmp_path: Path, name: str) -> WorkspaceIndex:
    index = WorkspaceIndex(tmp_path / f"{name}.db")
    index.update_file("pkg/util.py", util(name), "python")
    index.update_file("pkg/app.py", app(name), "python")
    return index


def context(retriever: WorkspaceRetriever, path: str, name: str,
            prefix: str | None = None) -> list[Snippet]:
    query = ContextQuery(path=path, language="python", prefix=prefix or app(name),
                         suffix=")\n")
    return retriever.snippets(query, 1000, len)


def test_each_document_gets_the_definitions_of_its_own_folder(tmp_path: Path) -> None:
    retriever = WorkspaceRetriever()
    retriever.add("alpha", indexed(tmp_path, "alpha"))
    retriever.add("beta", indexed(tmp_path, "beta"))
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        found = context(retriever, retriever.path_in(name, "pkg/app.py"), name)
        definitions = [s for s in found if s.source == "definition"]
        assert [s.path for s in definitions] == [f"{name}/pkg/util.py"]
        assert f"def {name}_only(value: int)" in definitions[0].text
        assert all(other not in s.path and other not in s.text for s in found)


def test_one_folder_names_paths_as_before_folders(tmp_path: Path) -> None:
    retriever = WorkspaceRetriever()
    retriever.add("alpha", indexed(tmp_path, "alpha"))
    assert retriever.path_in("alpha", "pkg/app.py") == "pkg/app.py"
    found = context(retriever, "pkg/app.py", "alpha")
    assert [s.path for s in found if s.source == "definition"] == ["pkg/util.py"]


def test_a_document_in_no_folder_reads_no_index(tmp_path: Path) -> None:
    retriever = WorkspaceRetriever()
    retriever.add("alpha", indexed(tmp_path, "alpha"))
    retriever.add("beta", indexed(tmp_path, "beta"))
    # No import to follow: a name the index knows only once would be shown.
    called = "def run(x):\n    return alpha_only("
    found = context(retriever, retriever.path_in(None, "app.py"), "alpha", called)
    assert not [s for s in found if s.source == "definition"]
    retriever.remove("beta")  # one folder again: it serves every document, as before
    found = context(retriever, "app.py", "alpha", called)
    assert [s.path for s in found if s.source == "definition"] == ["pkg/util.py"]


def test_recent_edits_stay_in_their_folder(tmp_path: Path) -> None:
    edits = RecentEdits()
    retriever = WorkspaceRetriever(edits=edits)
    retriever.add("alpha", indexed(tmp_path, "alpha"))
    retriever.add("beta", indexed(tmp_path, "beta"))
    edits.record("alpha/pkg/other.py", "ALPHA_EDIT = 1\n", 0, 0)
    edits.record("beta/pkg/other.py", "BETA_EDIT = 2\n", 0, 0)
    found = context(retriever, "beta/pkg/app.py", "beta")
    edited = [s for s in found if s.source == "edit"]
    assert [(s.path, s.text) for s in edited] == [("beta/pkg/other.py", "BETA_EDIT = 2")]


def test_a_label_cannot_hold_a_slash() -> None:
    with pytest.raises(ValueError):
        WorkspaceRetriever().add("a/b")


# --- the server's folders ----------------------------------------------------------------


def test_the_innermost_folder_holds_a_document(tmp_path: Path) -> None:
    server = TactfulServer()
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "inner"
    other = tmp_path / "elsewhere" / "outer"  # the same name: a label of its own
    server.add_folders([str(outer), str(inner), str(other), str(outer)])
    assert [f.label for f in server.folders] == ["outer", "inner", "outer-2"]
    in_inner = (inner / "pkg" / "a.py").as_uri()
    assert server.folder_of(str(inner / "pkg" / "a.py")) is server.folders[1]
    assert server.document_path(in_inner) == "inner/pkg/a.py"
    assert server.document_path((outer / "b.py").as_uri()) == "outer/b.py"
    assert server.document_path((other / "c.py").as_uri()) == "outer-2/c.py"
    assert server.document_path((tmp_path / "loose.py").as_uri()) == "loose.py"
    assert server.folder_name(in_inner) == "inner"
    # A folder "outer" does not hold "outer-stuff": a path is inside, not a prefix.
    assert server.folder_of(str(tmp_path / "outer-stuff" / "x.py")) is None
    server.remove_folder(str(inner))
    assert server.document_path(in_inner) == "outer/inner/pkg/a.py"
    server.remove_folder(str(other))
    assert server.document_path(in_inner) == "inner/pkg/a.py"  # one folder: as before


def test_folders_from_initialize_and_from_change_notifications(tmp_path: Path) -> None:
    """The handlers, fed the JSON an editor sends (turned off: no model, no index)."""
    server = create_server()
    wire = Wire()
    server.protocol.set_writer(wire, include_headers=False)

    def send(method: str, params: Any, msg_id: int | None = None) -> None:
        message = {"jsonrpc": "2.0", "method": method, "params": params,
                   **({"id": msg_id} if msg_id is not None else {})}
        server.protocol.handle_message(server.protocol.structure_message(message))

    def folder_json(name: str) -> dict[str, str]:
        return {"uri": (tmp_path / name).as_uri(), "name": name}

    send("initialize", {
        "processId": None, "capabilities": {},
        "rootUri": (tmp_path / "ignored").as_uri(),  # workspaceFolders take its place
        "workspaceFolders": [folder_json("alpha"), folder_json("beta")],
        "initializationOptions": {"tactful": {"enabled": False, "personalize": False}},
    }, 1)
    try:
        [answer] = [m for m in wire.sent if m.get("id") == 1]
        assert answer["result"]["capabilities"]["workspace"]["workspaceFolders"] == {
            "supported": True, "changeNotifications": True}
        assert [f.label for f in server.folders] == ["alpha", "beta"]
        send("workspace/didChangeWorkspaceFolders", {"event": {
            "added": [folder_json("gamma")], "removed": [folder_json("alpha")]}})
        assert [f.label for f in server.folders] == ["beta", "gamma"]
        assert server.retriever.labels == ["beta", "gamma"]
        assert server.document_path((tmp_path / "gamma" / "a.py").as_uri()) == "gamma/a.py"
        assert server.document_path((tmp_path / "alpha" / "a.py").as_uri()) == "a.py"
    finally:
        server.shutdown_model()


# --- end to end ----------------------------------------------------------------------------

# The server's stderr (its log) to a file the test reads.
SERVER = ["bash", "-c", 'exec "$0" -m lsp.cli serve --log-level debug 2>>"$TACTFUL_TEST_LOG"',
          sys.executable]


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index-cache"


@pytest.fixture(autouse=True)
def _server_env(log_file: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server (a child process) inherits them.
    monkeypatch.setenv("TACTFUL_TEST_LOG", str(log_file))
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(index_dir))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, default_model_path: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


def make_folder(parent: Path, name: str) -> Path:
    root = parent / name
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text(util(name))
    (root / "pkg" / "app.py").write_text(app(name) + "x)\n")
    return root


def folder(root: Path) -> types.WorkspaceFolder:
    return types.WorkspaceFolder(uri=root.as_uri(), name=root.name)


async def index_holds(index_dir: Path, symbol: str, timeout: float = 30) -> Path:
    """The index database that holds `symbol`, once one does."""
    async def found() -> Path:
        while True:
            for db in index_dir.rglob("index.db"):
                try:
                    with sqlite3.connect(db) as conn:
                        if conn.execute("SELECT 1 FROM symbols WHERE name = ?",
                                        (symbol,)).fetchone():
                            return db
                except sqlite3.Error:
                    pass  # being created
            await asyncio.sleep(0.1)
    return await asyncio.wait_for(found(), timeout)


def contexts(log_file: Path, path: str) -> list[dict[str, Any]]:
    """The context the server retrieved for the document at `path`, request by request."""
    out = []
    for line in log_file.read_text().splitlines():
        _, marker, payload = line.partition(" " + CONTEXT_LOG)
        if marker and payload.startswith("{"):
            record = json.loads(payload)
            if record["path"] == path:
                out.append(record)
    return out


async def complete_in(client: LanguageClient, root: Path, name: str) -> None:
    uri = (root / "pkg" / "app.py").as_uri()
    text = app(name)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=text)))
    await complete_at_end(client, uri, text)


def definitions(record: dict[str, Any]) -> list[str]:
    return [s["path"] for s in record["snippets"] if s["source"] == "definition"]


@pytest.mark.model
async def test_e2e_each_folder_its_own_index_added_and_removed_at_run_time(
        client: LanguageClient, tmp_path: Path, log_file: Path, index_dir: Path) -> None:
    alpha, beta = make_folder(tmp_path, "alpha"), make_folder(tmp_path, "beta")
    ready = asyncio.Event()

    @client.feature("tactful/status")
    def on_status(params: Any) -> None:
        if params.state in ("ready", "error"):
            ready.set()

    result = await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        workspace_folders=[folder(alpha), folder(beta)],
        initialization_options={"tactful": {"timeBudgetMs": 60_000, "logLevel": "debug",
                                            "maxTokens": 8}},
    ))
    folders = result.capabilities.workspace and result.capabilities.workspace.workspace_folders
    assert folders and folders.supported and folders.change_notifications
    await asyncio.wait_for(ready.wait(), 60)

    # Each folder has a database of its own (and the other's names are not in it).
    alpha_db = await index_holds(index_dir, "alpha_only")
    beta_db = await index_holds(index_dir, "beta_only")
    assert alpha_db != beta_db and len(list(index_dir.rglob("index.db"))) == 2
    with sqlite3.connect(beta_db) as db:
        assert not db.execute("SELECT 1 FROM symbols WHERE name = 'alpha_only'").fetchone()

    # A document in beta: its definitions come from beta's index, alpha's never.
    # (Each request logs its context; so may the idle refresh after it, alike.)
    await complete_in(client, beta, "beta")
    records = contexts(log_file, "beta/pkg/app.py")
    assert records and all(r["folder"] == "beta" for r in records)
    assert all(definitions(r) == ["beta/pkg/util.py"] for r in records)
    await complete_in(client, alpha, "alpha")
    records = contexts(log_file, "alpha/pkg/app.py")
    assert records and all(definitions(r) == ["alpha/pkg/util.py"] for r in records)

    # A folder added at run time is indexed, and serves its documents.
    gamma = make_folder(tmp_path, "gamma")
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[folder(gamma)], removed=[])))
    gamma_db = await index_holds(index_dir, "gamma_only")
    assert gamma_db not in (alpha_db, beta_db)
    await complete_in(client, gamma, "gamma")
    records = contexts(log_file, "gamma/pkg/app.py")
    assert records and all(r["folder"] == "gamma" for r in records)
    assert all(definitions(r) == ["gamma/pkg/util.py"] for r in records)

    # Removed, it is dropped: its document is in no folder, and no index answers for it.
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[], removed=[folder(gamma)])))
    await asyncio.sleep(0.3)  # a notification has no answer: let it arrive
    uri = (gamma / "pkg" / "app.py").as_uri()
    await complete_at_end(client, uri, app("gamma"))
    records = contexts(log_file, "app.py")
    assert records and all(r["folder"] is None and definitions(r) == [] for r in records)
    # Nor is its index kept fresh: a new file in it stays out of its database.
    (gamma / "pkg" / "late.py").write_text("def arrived_late():\n    pass\n")
    await asyncio.sleep(1.5)
    with sqlite3.connect(gamma_db) as db:
        assert not db.execute("SELECT 1 FROM symbols WHERE name = 'arrived_late'").fetchone()
    # While beta's still is.
    (beta / "pkg" / "late.py").write_text("def beta_late():\n    pass\n")
    assert await index_holds(index_dir, "beta_late") == beta_db
    assert os.path.exists(gamma_db)  # the cache stays, for when the folder comes back
