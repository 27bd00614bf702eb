"""LSP handlers: each reads its parameters, calls the engine or a store, converts the answer.

| method                                   | handler               |
|------------------------------------------|-----------------------|
| initialize / initialized                 | configuration, model  |
| textDocument/didOpen, didChange, didClose| the document store    |
| textDocument/inlineCompletion (LSP 3.18) | inline_completion     |
| workspace/executeCommand tactful.accept  | accept                |
| workspace/didChangeConfiguration         | did_change_config     |
| workspace/didChangeWorkspaceFolders      | did_change_folders    |
| tactful/partialAccept {id, acceptedLength}| partial_accept        |
| tactful/dismiss {id}, tactful/shown {id}  | dismiss, shown        |
| tactful/explain {uri?, limit?} (request)  | explain               |
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.workspace import TextDocument

from completion.engine import UnknownSuggestionError
from completion.request import CompletionRequest, CompletionResult, Outcome, Trigger
from completion.scheduler import log_completion
from context.positions import (
    UTF16,
    Encoding,
    PositionError,
    chars_in_units,
    encoding_named,
    line_starts,
)
from lsp.documents import Document, uri_to_path
from lsp.server import ModelUnavailable, TactfulServer

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "tactful.accept"
PARTIAL_ACCEPT = "tactful/partialAccept"
DISMISS = "tactful/dismiss"
SHOWN = "tactful/shown"
EXPLAIN = "tactful/explain"
# Tactful's own methods that take no id (the framing refuses them with one).
NOTIFICATIONS = frozenset({PARTIAL_ACCEPT, DISMISS, SHOWN})


def create_server() -> TactfulServer:
    server = TactfulServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: TactfulServer, params: types.InitializeParams) -> None:
        ls.apply_config(params.initialization_options)
        ls.start_feedback()
        # Workspace folders, if the client names them, take the place of rootUri.
        uris = ([f.uri for f in params.workspace_folders] if params.workspace_folders
                else [params.root_uri] if params.root_uri else [])
        ls.add_folders(path for uri in uris if (path := uri_to_path(uri)) is not None)
        window = params.capabilities.window
        ls.client_shows_progress = bool(window and window.work_done_progress)
        # pygls chose it from the client's general.positionEncodings (the first it lists of
        # utf-8, utf-16, utf-32; utf-16 if none) and advertises it in its capabilities.
        ls.documents.encoding = encoding_named(ls.workspace.position_encoding)

    @server.feature(types.INITIALIZED)
    def initialized(ls: TactfulServer, _: types.InitializedParams) -> None:
        ls.converge()  # the model and the indexes, or the "disabled" status

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_config(ls: TactfulServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_config(params.settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: TactfulServer,
                           params: types.DidChangeWorkspaceFoldersParams) -> None:
        for folder in params.event.removed:
            if (path := uri_to_path(folder.uri)) is not None:
                ls.remove_folder(path)
        ls.add_folders(path for f in params.event.added
                       if (path := uri_to_path(f.uri)) is not None)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TactfulServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        # pygls opened its own copy first: it must not apply the changes (see _Unsynced).
        ls.workspace.text_documents[unquote(doc.uri)] = _Unsynced(
            doc.uri, doc.text, doc.version, doc.language_id
        )
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
            ls.warn_user(f"an edit to {doc.uri} did not fit the document ({exc}); reopen it",
                         once=f"desync {doc.uri}")
            return
        document_changed(ls, doc.uri, doc.text)
        ls.jobs.keystroke(doc.uri, time.monotonic())
        if ls.feedback is not None:  # typing speed, for the predictor
            ls.feedback.history.document_length(ls.feedback.clock(), len(doc.text), doc.uri)
        path = ls.document_path(doc.uri)
        for start, _, text in changes:
            if start is not None:  # a whole-text replacement is no edit worth showing
                ls.edits.record(path, doc.text, start[0], start[0] + len(line_starts(text)) - 1)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TactfulServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.jobs.closed(uri)
        if ls.engine is not None:
            ls.engine.forget_document(uri)
        ls.documents.close(uri)
        ls.index_document(uri, None)

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
        # The text this request was sent for: edits that arrive while it waits must not
        # move it (its position is in this text), and make its answer stale.
        version, text = doc.version, doc.text
        engine = await ls.wait_for_engine()
        if engine is None:
            if ls.model_error is not None:
                raise ModelUnavailable(ls.model_error)
            return None  # not started yet, or turned off meanwhile
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        request = make_request(ls, doc, offset, "invoked" if invoked else "typed", text)
        ls.jobs.requested(engine, request)
        # Typing through a suggestion, or a cached one: no model, no wait.
        result = engine.instant(request)
        if result is not None:
            log_completion(request, result)
        else:
            result = await ls.jobs.complete(engine, request)
        if doc.version != version or ls.documents.get(uri) is not doc:
            # Edited or closed meanwhile: the editor has moved on, and an answer for the
            # old text must never be shown in the new one.
            return types.InlineCompletionList(items=[])
        engine.delivered(result)
        if ls.feedback is not None:
            position = (params.position.line, params.position.character)
            ls.feedback.completed(request, result, position)
        if result.outcome is Outcome.MODEL_ERROR:
            raise ModelUnavailable(result.problem)
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
        record(ls, params, "partial", length, ls.documents.encoding)

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
    ls.retriever.touch(ls.document_path(uri))
    ls.index_document(uri, text)


def make_request(ls: TactfulServer, doc: Document, offset: int, trigger: Trigger,
                 text: str | None = None) -> CompletionRequest:
    return CompletionRequest(
        text=doc.text if text is None else text,
        offset=offset,
        language=doc.language_id,
        path=ls.document_path(doc.uri),
        trigger=trigger,
        document_id=doc.uri,
        workspace=ls.folder_name(doc.uri),
    )


def record(ls: TactfulServer, params: Any, outcome: str, length: int | None = None,
           encoding: Encoding = UTF16) -> None:
    """Feedback notifications have no answer: a bad one is logged, never raised. `length`
    counts code units of `encoding`, the positions' own (an emoji is 2 UTF-16 units)."""
    suggestion_id = getattr(params, "id", None)
    if ls.engine is None or not isinstance(suggestion_id, str):
        log.warning("feedback %r for no known suggestion: %s", outcome, params)
        return
    try:
        if length is not None:
            length = chars_in_units(ls.engine.issued(suggestion_id).text, length, encoding)
        ls.engine.record_outcome(suggestion_id, outcome, length)
    except UnknownSuggestionError:
        log.warning("feedback %r for unknown completion id %r", outcome, suggestion_id)


class _Unsynced(TextDocument):
    """pygls's copy of an open document, which applies no change: Tactful keeps its own
    (lsp.documents) and nothing reads this one. pygls applies each change to its copy before
    our handler reads it, splitting lines on form feeds (and U+2028...) too, and moves a
    position it finds past the end of such a line back onto it, in the very change that the
    handler then applies: an edit after a form feed would land before it."""

    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        pass


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
