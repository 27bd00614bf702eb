"""LSP handlers: each reads its parameters, calls the engine or a store, converts the answer.

| method                                   | handler               |
|------------------------------------------|-----------------------|
| initialize / initialized                 | configuration, model  |
| textDocument/didOpen, didChange, didClose| the document store    |
| textDocument/inlineCompletion (LSP 3.18) | inline_completion     |
| workspace/executeCommand tactful.accept  | accept                |
| workspace/didChangeConfiguration         | did_change_config     |
| tactful/partialAccept {id, acceptedLength}| partial_accept        |
| tactful/dismiss {id}, tactful/shown {id}  | dismiss, shown        |
| tactful/explain {uri?, limit?} (request)  | explain               |
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from completion.engine import UnknownSuggestionError
from completion.request import CompletionRequest, CompletionResult, Trigger
from lsp.documents import Document, uri_to_path
from lsp.jobs import log_completion
from lsp.positions import PositionError, chars_in_utf16
from lsp.server import TactfulServer

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "tactful.accept"
PARTIAL_ACCEPT = "tactful/partialAccept"
DISMISS = "tactful/dismiss"
SHOWN = "tactful/shown"
EXPLAIN = "tactful/explain"


def create_server() -> TactfulServer:
    server = TactfulServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: TactfulServer, params: types.InitializeParams) -> None:
        ls.apply_config(params.initialization_options)
        ls.start_feedback()
        root = params.root_uri or (
            params.workspace_folders[0].uri if params.workspace_folders else None
        )
        ls.workspace_root = uri_to_path(root) if root else None
        window = params.capabilities.window
        ls.client_shows_progress = bool(window and window.work_done_progress)

    @server.feature(types.INITIALIZED)
    def initialized(ls: TactfulServer, _: types.InitializedParams) -> None:
        if ls.config.enabled:
            ls.load_model()
            ls.start_index()
        else:
            ls.send_status("disabled", "completions are turned off")

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_config(ls: TactfulServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_config(params.settings)
        if ls.config.enabled and ls.engine is None and ls.model_error is None:
            ls.load_model()
        if ls.config.enabled:
            ls.start_index()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TactfulServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        document_changed(ls, doc.uri, doc.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TactfulServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", params.text_document.uri)
            return
        changes = [
            (
                (c.range.start.line, c.range.start.character),
                (c.range.end.line, c.range.end.character),
                c.text,
            )
            if isinstance(c, types.TextDocumentContentChangePartial)
            else (None, None, c.text)
            for c in params.content_changes
        ]
        try:
            doc.apply_changes(changes, params.text_document.version)
        except PositionError as exc:
            ls.warn_user(f"an edit to {doc.uri} did not fit the document ({exc}); reopen it")
            return
        document_changed(ls, doc.uri, doc.text)
        ls.jobs.keystroke(doc.uri, time.monotonic())
        if ls.feedback is not None:  # typing speed, for the predictor
            ls.feedback.history.document_length(ls.feedback.clock(), len(doc.text), doc.uri)
        path = relative_path(doc.uri, ls.workspace_root)
        for start, _, text in changes:
            if start is not None:  # a whole-text replacement is no edit worth showing
                ls.edits.record(path, doc.text, start[0], start[0] + text.count("\n"))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TactfulServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.jobs.closed(uri)
        if ls.engine is not None:
            ls.engine.forget_document(uri)
        ls.documents.close(uri)
        if ls.live_index is not None and (path := uri_to_path(uri)) is not None:
            ls.live_index.document_closed(Path(path))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: TactfulServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        uri = params.text_document.uri
        doc = ls.documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document is not open: {uri}")
        try:
            offset = doc.offset_at(params.position.line, params.position.character)
        except PositionError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        if not ls.config.enabled:
            return None
        engine = await ls.wait_for_engine()
        if engine is None:
            return None
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        request = make_request(ls, doc, offset, "invoked" if invoked else "typed")
        ls.jobs.requested(engine, request)
        # Typing through a suggestion, or a cached one: no model, no wait.
        result = engine.instant(request)
        if result is not None:
            log_completion(request, result)
        else:
            result = await ls.jobs.complete(engine, request)
        engine.delivered(result)
        if ls.feedback is not None:
            position = (params.position.line, params.position.character)
            ls.feedback.completed(request, result, position)
        return to_inline_list(result, doc)

    @server.command(ACCEPT_COMMAND)
    def accept(ls: TactfulServer, *args: Any) -> None:
        if len(args) != 1 or not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{ACCEPT_COMMAND} takes one argument: the completion id")
        engine = ls.engine
        try:
            if engine is None:
                raise UnknownSuggestionError(args[0])
            suggestion = engine.accept(args[0])
        except UnknownSuggestionError:
            raise JsonRpcInvalidParams(f"unknown completion id {args[0]!r}") from None
        doc = ls.documents.get(suggestion.document_id)
        if doc is not None and ls.config.enabled:
            # The next suggestion, computed while the user reads the accepted one. Editors
            # insert before or after running the command: predict the text either way.
            end = suggestion.offset + len(suggestion.text)
            text = doc.text
            if text[suggestion.offset:end] != suggestion.text:
                text = text[:suggestion.offset] + suggestion.text + text[suggestion.offset:]
            if end <= len(text):
                ls.jobs.accepted(engine, make_request(ls, doc, end, "typed", text))

    @server.feature(PARTIAL_ACCEPT)
    def partial_accept(ls: TactfulServer, params: Any) -> None:
        length = getattr(params, "acceptedLength", None)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            log.warning("%s without a valid acceptedLength: %s", PARTIAL_ACCEPT, params)
            return
        record(ls, params, "partial", length)

    @server.feature(DISMISS)
    def dismiss(ls: TactfulServer, params: Any) -> None:
        record(ls, params, "dismissed")

    @server.feature(SHOWN)
    def shown(ls: TactfulServer, params: Any) -> None:
        suggestion_id = getattr(params, "id", None)
        if ls.feedback is not None and isinstance(suggestion_id, str):
            ls.feedback.displayed(suggestion_id)
        record(ls, params, "shown")

    @server.feature(EXPLAIN)
    def explain(ls: TactfulServer, params: Any) -> dict[str, Any]:
        """The last decisions (of one document, if `uri` is given) and why they went so."""
        uri = getattr(params, "uri", None)
        limit = getattr(params, "limit", 20)
        if uri is not None and not isinstance(uri, str):
            raise JsonRpcInvalidParams(f"{EXPLAIN}: uri must be a string")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise JsonRpcInvalidParams(f"{EXPLAIN}: limit must be a positive integer")
        decisions = ls.feedback.explain(uri, limit) if ls.feedback is not None else []
        return {"decisions": decisions}

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: TactfulServer, _: Any) -> None:
        ls.shutdown_model()

    return server


def document_changed(ls: TactfulServer, uri: str, text: str) -> None:
    """An open document's text reaches the index (unsaved text wins over the disk)."""
    ls.retriever.touch(relative_path(uri, ls.workspace_root))
    if ls.live_index is not None and (path := uri_to_path(uri)) is not None:
        ls.live_index.document_changed(Path(path), text)


def make_request(ls: TactfulServer, doc: Document, offset: int, trigger: Trigger,
                 text: str | None = None) -> CompletionRequest:
    return CompletionRequest(
        text=doc.text if text is None else text,
        offset=offset,
        language=doc.language_id,
        path=relative_path(doc.uri, ls.workspace_root),
        trigger=trigger,
        document_id=doc.uri,
        workspace=os.path.basename(ls.workspace_root or ""),
    )


def record(ls: TactfulServer, params: Any, outcome: str, length: int | None = None) -> None:
    """Feedback notifications have no answer: a bad one is logged, never raised."""
    suggestion_id = getattr(params, "id", None)
    if ls.engine is None or not isinstance(suggestion_id, str):
        log.warning("feedback %r for no known suggestion: %s", outcome, params)
        return
    try:
        if length is not None:  # clients count UTF-16 units, as LSP positions do
            length = chars_in_utf16(ls.engine.issued(suggestion_id).text, length)
        ls.engine.record_outcome(suggestion_id, outcome, length)
    except UnknownSuggestionError:
        log.warning("feedback %r for unknown completion id %r", outcome, suggestion_id)


def to_inline_list(result: CompletionResult, doc: Document) -> types.InlineCompletionList:
    items = []
    for s in result.suggestions:
        line, character = doc.position_at(s.offset)
        position = types.Position(line=line, character=character)
        items.append(
            types.InlineCompletionItem(
                insert_text=s.text,
                range=types.Range(start=position, end=position),
                command=types.Command(
                    title="Accept Tactful suggestion", command=ACCEPT_COMMAND, arguments=[s.id]
                ),
            )
        )
    return types.InlineCompletionList(items=items)


def relative_path(uri: str, root: str | None) -> str:
    path = uri_to_path(uri)
    if path is None:
        return ""
    if root:
        try:
            rel = os.path.relpath(path, root)
            if not rel.startswith(".."):
                return rel
        except ValueError:
            pass
    return os.path.basename(path)
