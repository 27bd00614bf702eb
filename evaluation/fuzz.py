"""`tactful bench fuzz`: seeded malformed traffic against the real server over stdio.

The server runs as editors start it (`tactful serve`, the embedded model loaded), in a
workspace of one real module that is open in the "editor". Messages come from hypothesis
strategies, seeded, so that a run can be repeated exactly:

- valid methods with malformed params: a field of a well-formed message replaced by a
  wrong type, a negative or huge number, a 1–5 MB string, one long word of what secret
  scanners look for (`tokentoken…`), a lone UTF-16 surrogate, or nesting thousands deep;
  a field dropped; the params replaced whole;
- unknown methods, notifications carrying ids, duplicate ids, ids of every JSON type;
- `didChange` with ranges out of the document, or for documents never opened;
- framing abuse: a Content-Length too short or too long, a header without a body, a
  50 MB Content-Length, bytes outside any frame; each followed by a valid request;
- and, after all of them, requests after `shutdown`.

What must hold: the server never dies; each request (an id of a JSON-RPC type) is answered,
with a result or an error, within 10 s; stdout carries only framed JSON-RPC; an ordinary
completion works afterwards; resident memory ends within 50 MB of where it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from evaluation.lsp_session import child_pids, memory_mb

ANSWER_S = 10.0
PARSE_ERROR_CODE = -32700
WINDOW = 16  # requests in flight at once, as a busy editor might have
MEMORY_SLACK_MB = 50.0
URI_NAME = "fuzzed.py"
DOCUMENT = '''"""A module the fuzzer edits."""

import os


def join(parts: list[str]) -> str:
    return os.sep.join(parts)


def first_word(text: str) -> str:
    words = text.split()
    return words[0] if words else ""
'''


@dataclass(frozen=True)
class Outgoing:
    """Bytes to write, and the id an answer must carry (None: no answer is owed)."""

    kind: str
    data: bytes
    answer_id: int | str | None = None


# -- the messages -------------------------------------------------------------------------

_RAW = "\u0000raw%d\u0000"


class _Raw:
    """JSON text put in a message as is (deep nesting, lone surrogates), which json.dumps
    cannot write."""

    def __init__(self, text: str) -> None:
        self.text = text


def _dump(value: Any) -> bytes:
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, _Raw):
            raws.append(v.text)
            return _RAW % (len(raws) - 1)
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(_RAW % i), raw)
    return text.encode("utf-8")


def frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body) if length is None else length, body)


@st.composite
def _bad_values(draw: st.DrawFn) -> Any:
    """A value where another was expected; the costly ones (megabytes, deep nesting)
    rarely, so that a run's time goes to many messages rather than to a few."""
    # Hypothesis draws small integers most, so rolls come from its seeded Random.
    roll = int(random.Random(draw(st.integers(0, 2**32 - 1))).random() * 1000)
    if roll < 4:
        return "x = 1\n" * (draw(st.integers(1_000_000, 5_000_000)) // 6)
    if roll < 8:  # one long word of what secret scanners look for, as a minified file has
        word = draw(st.sampled_from(["token", "password", "ghp_", "AKIA", "-----BEGIN ",
                                     "eyJ", "sk-", "api_key"]))
        return word * (draw(st.integers(10_000, 200_000)) // len(word))
    if roll < 20:
        depth = draw(st.integers(1_000, 100_000))
        return _Raw("[" * depth + "]" * depth)
    if roll < 30:
        depth = draw(st.integers(1_000, 20_000))
        return _Raw('{"a":' * depth + "1" + "}" * depth)
    if roll < 80:
        return _Raw(draw(st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\udbff\\u0041"'])))
    if roll < 300:
        return draw(st.sampled_from([-1, -(2**31), 2**31, 2**53 + 1, 10**30, 1.5, -0.0, 1e308]))
    return draw(st.one_of(
        st.none(), st.booleans(), st.text(max_size=12), st.integers(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)))


def _templates(uri: str) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Well-formed params of each method, and whether it is a request."""
    position = {"line": 5, "character": 4}
    text_doc = {"uri": uri}
    change = {"range": {"start": position, "end": position}, "text": "x"}
    return {
        "textDocument/inlineCompletion": (True, {
            "textDocument": text_doc, "position": position,
            "context": {"triggerKind": 2}}),
        "tactful/explain": (True, {"uri": uri, "limit": 3}),
        "workspace/executeCommand": (True, {"command": "tactful.accept",
                                            "arguments": ["no-such-suggestion"]}),
        "textDocument/didOpen": (False, {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": DOCUMENT}}),
        "textDocument/didChange": (False, {"textDocument": {"uri": uri, "version": 2},
                                           "contentChanges": [change]}),
        "textDocument/didClose": (False, {"textDocument": text_doc}),
        "workspace/didChangeConfiguration": (False, {"settings": {"tactful": {
            "maxTokens": 48}}}),
        "tactful/partialAccept": (False, {"id": "no-such", "acceptedLength": 3}),
        "tactful/dismiss": (False, {"id": "no-such"}),
        "tactful/shown": (False, {"id": "no-such"}),
        "$/cancelRequest": (False, {"id": 1}),
        "$/setTrace": (False, {"value": "off"}),
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any, drop: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if drop and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replaced(value[head], rest, new, drop)
        return copy
    copy_list = list(value)
    copy_list[head] = _replaced(value[head], rest, new, drop)
    return copy_list


# How often each kind of message is sent.
KINDS = {"malformed": 50, "unknown": 6, "notification_with_id": 6, "odd_id": 6,
         "duplicate_id": 4, "bad_range": 10, "unopened": 6, "framing": 3, "valid": 9,
         "hostile_text": 2}


@st.composite
def _message(draw: st.DrawFn, uri: str) -> tuple[str, Any, bool]:
    """(kind, the message, or for "framing" how its frame is bad, whether an answer is
    owed)."""
    templates = _templates(uri)
    # Hypothesis favours small and edge values; the kind is picked evenly by weight.
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    kind = rnd.choices(list(KINDS), weights=list(KINDS.values()))[0]
    method = rnd.choice(sorted(templates))
    is_request, params = templates[method]
    if kind == "malformed":
        paths = _paths(params)
        path: tuple[Any, ...] = ()
        one_field: bool = draw(st.booleans())
        if paths and one_field:
            path = draw(st.sampled_from(paths))
        params = _replaced(params, path, draw(_bad_values()), drop=draw(st.booleans()))
        if path == () and draw(st.booleans()):
            params = draw(_bad_values())
    elif kind == "unknown":
        method = draw(st.sampled_from(["tactful/nope", "textDocument/hover", "$/ping", "", "x"]))
        is_request = draw(st.booleans())
    elif kind == "notification_with_id":
        method = draw(st.sampled_from([m for m, (r, _) in templates.items() if not r]))
        params, is_request = templates[method][1], True
    elif kind == "bad_range":
        line = draw(st.sampled_from([-1, 0, 11, 12, 13, 10**6, 2**31]))
        character = draw(st.sampled_from([-1, 0, 3, 80, 10**9, 2**31]))
        position = {"line": line, "character": character}
        method, is_request = "textDocument/didChange", False
        params = {"textDocument": {"uri": uri, "version": draw(st.integers(-5, 10**6))},
                  "contentChanges": [{"range": {"start": position, "end": position},
                                      "text": draw(st.text(max_size=5))}]}
    elif kind == "unopened":
        other = "file:///nowhere/" + draw(st.sampled_from(["a.py", "b.txt", "%00.py", ""]))
        params = json.loads(json.dumps(params).replace(json.dumps(uri), json.dumps(other)))
    elif kind == "framing":
        return kind, draw(st.sampled_from(["short", "long", "no_body", "huge", "junk"])), True
    elif kind == "hostile_text":
        # Well-typed, but text no editor would mind and a scanner might: a document of one
        # long keyword word, megabytes, NULs and control characters, lone surrogates.
        word = draw(st.sampled_from(["token", "password=", "ghp_", "AKIA", "-----BEGIN ",
                                     "x", "\u0000", "\u2028", "\U0001F600", "é\r"]))
        size = random.Random(draw(st.integers(0, 2**32 - 1))).randint(1, 400_000)
        text: str | _Raw = word * max(1, size // len(word))
        if draw(st.booleans()):
            text = _Raw(json.dumps(text)[:-1] + '\\ud800"')
        hostile = uri.rsplit("/", 1)[0] + "/hostile.py"
        return kind, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": hostile, "languageId": "python", "version": 1,
                             "text": text}}}, False
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if kind == "odd_id":
        message["id"] = draw(st.one_of(
            st.integers(-(2**63), 2**63), st.text(max_size=8), st.just(1.5), st.none(),
            st.booleans(), st.just([1]), st.just({"a": 1})))
        return kind, message, True
    return kind, message, is_request or kind in ("notification_with_id", "duplicate_id")


def generate(seed_value: int, count: int, uri: str) -> list[Outgoing]:
    """`count` messages, the same ones for the same seed (and hypothesis version)."""
    drawn: list[tuple[str, Any, bool]] = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(_message(uri))
    def collect(example: tuple[str, Any, bool]) -> None:
        drawn.append(example)

    collect()
    out: list[Outgoing] = []
    next_id = 1000
    last_id: int | None = None
    for kind, message, owed in drawn:
        if kind == "framing":
            out.append(Outgoing(kind, _bad_frame(message)))
            next_id += 1  # each bad frame is followed by a request that must be served
            body = _dump({"jsonrpc": "2.0", "id": next_id, "method": "tactful/explain",
                          "params": {"limit": 1}})
            out.append(Outgoing("after_framing", frame(body), next_id))
            continue
        data = frame(_dump(message))
        if owed and (b"[" * 900 in data or b'{"a":' * 900 in data):
            # Deeper than the JSON parser goes: a parse error, whose id is null (JSON-RPC
            # 2.0, section 5), is the answer owed.
            out.append(Outgoing(kind, data, PARSE_ERROR))
            continue
        answer: int | str | None = None
        if owed and kind == "odd_id":
            odd = message["id"]
            answer = odd if isinstance(odd, int | str) and not isinstance(odd, bool) else None
        elif owed:
            if kind == "duplicate_id" and last_id is not None:
                message["id"] = last_id
            else:
                next_id += 1
                message["id"] = next_id
            answer = message["id"]
            last_id = message["id"]
        out.append(Outgoing(kind, frame(_dump(message)), answer))
    return out


# The answer_id of a message owed a parse error (id null) rather than an answer of its own.
PARSE_ERROR = "\u0000parse error"


def _bad_frame(how: str) -> bytes:
    body = _dump({"jsonrpc": "2.0", "method": "$/setTrace", "params": {"value": "off"}})
    return {
        "short": frame(body, len(body) - 7),
        "long": frame(body, len(body) + 25),
        "no_body": b"Content-Length: 120\r\n\r\n",
        "huge": frame(body, 50 * 2**20),
        "junk": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }[how]


# -- the run ------------------------------------------------------------------------------


@dataclass
class Report:
    messages: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    requests_owed: int = 0
    parse_errors_owed: int = 0
    answered: int = 0
    unanswered: list[str] = field(default_factory=list)
    slowest_answer_s: float = 0.0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    stdout_violations: list[str] = field(default_factory=list)
    pop_ups: int = 0
    server_died: str | None = None
    completion_after: bool = False
    after_shutdown_answers: list[str] = field(default_factory=list)
    exit_code: int | None = None
    memory_start_mb: float | None = None
    memory_end_mb: float | None = None
    memory_parts: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def memory_growth_mb(self) -> float | None:
        if self.memory_start_mb is None or self.memory_end_mb is None:
            return None
        return round(self.memory_end_mb - self.memory_start_mb, 1)

    @property
    def passed(self) -> bool:
        growth = self.memory_growth_mb
        parse_errors = self.errors_by_code.get(str(PARSE_ERROR_CODE), 0)
        return (self.server_died is None and not self.unanswered and not self.stdout_violations
                and parse_errors >= self.parse_errors_owed
                and self.completion_after and self.exit_code == 0
                and all(a.startswith("error") for a in self.after_shutdown_answers)
                and growth is not None and growth <= MEMORY_SLACK_MB)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["unanswered"] = self.unanswered[:20]
        data["memory_growth_mb"] = self.memory_growth_mb
        data["passed"] = self.passed
        return data


class _Server:
    """`tactful serve` on pipes; reads stdout strictly as framed JSON-RPC."""

    def __init__(self, proc: asyncio.subprocess.Process, report: Report) -> None:
        self.proc = proc
        self.report = report
        self.waiting: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            header = await stdout.readline()
            if not header:
                return
            match = re.fullmatch(rb"Content-Length: (\d+)\r\n", header)
            blank = await stdout.readline() if match else b""
            if match is None or blank not in (b"\r\n",):
                if blank.startswith(b"Content-Type:"):
                    blank = await stdout.readline()
                if match is None or blank != b"\r\n":
                    self.report.stdout_violations.append(repr(header[:80] + blank[:40]))
                    if match is None:
                        continue
            body = await stdout.readexactly(int(match.group(1)))
            try:
                message = json.loads(body)
            except ValueError:
                message = None
            if not (isinstance(message, dict) and message.get("jsonrpc") == "2.0"):
                self.report.stdout_violations.append(repr(body[:80]))
                continue
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if message["method"] == "window/showMessage":
                self.report.pop_ups += 1
            if "id" in message:  # a request of the server's: answer it, as an editor would
                self.write(frame(_dump({"jsonrpc": "2.0", "id": message["id"],
                                        "result": None})))
            return
        key = _key(message.get("id"))
        if "error" in message:
            error = message["error"]
            code = str(error.get("code") if isinstance(error, dict) else error)
            self.report.errors_by_code[code] = self.report.errors_by_code.get(code, 0) + 1
        if self.waiting.get(key):
            sent, _ = self.waiting[key].pop(0)
            self.report.answered += 1
            self.report.slowest_answer_s = max(self.report.slowest_answer_s,
                                               time.monotonic() - sent)
            if not self.waiting[key]:
                del self.waiting[key]
        future = self.answers.pop(key, None)
        if future is not None and not future.done():
            future.set_result(message)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def send(self, out: Outgoing) -> None:
        if out.answer_id == PARSE_ERROR:
            self.report.parse_errors_owed += 1
        elif out.answer_id is not None:
            self.report.requests_owed += 1
            self.waiting[_key(out.answer_id)].append((time.monotonic(), out.kind))
        self.write(out.data)
        assert self.proc.stdin is not None
        await self.proc.stdin.drain()

    async def request(self, msg_id: int, method: str, params: Any) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[_key(msg_id)] = future
        await self.send(Outgoing("control", frame(_dump(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})), msg_id))
        try:
            return await asyncio.wait_for(future, ANSWER_S * 3)
        finally:
            self.waiting.pop(_key(msg_id), None)

    def notify(self, method: str, params: Any) -> None:
        self.write(frame(_dump({"jsonrpc": "2.0", "method": method, "params": params})))

    def overdue(self) -> list[str]:
        now = time.monotonic()
        return [f"{kind} id={key} unanswered after {ANSWER_S:.0f} s"
                for key, sends in self.waiting.items() for sent, kind in sends
                if now - sent > ANSWER_S]

    def in_flight(self) -> int:
        return sum(len(v) for v in self.waiting.values())


def _note_overdue(report: Report, overdue: list[str]) -> None:
    report.unanswered += [x for x in overdue if x not in report.unanswered]


def _key(msg_id: Any) -> str:
    """An id as its JSON text: 1, 1.5 and "1" stay apart, and a list or object echoed back
    in an error answer can be looked up too."""
    return json.dumps(msg_id, sort_keys=True)


def _rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of the server and of its children (the model worker), in MB."""
    parts = {"server": pid, **{f"child {c}": c for c in child_pids(pid)}}
    rss = {name: memory_mb(p, "VmRSS") for name, p in parts.items()}
    return {name: round(mb, 1) for name, mb in rss.items() if mb is not None}


async def run_fuzz(messages: int, seed_value: int, workspace: Path, log: Path,
                   progress: bool = True) -> Report:
    """Start the server in `workspace`, send the messages, check everything above."""
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / URI_NAME
    path.write_text(DOCUMENT)
    uri = path.resolve().as_uri()
    report = Report()
    plan = generate(seed_value, messages, uri)
    report.messages = len(plan)
    report.kinds = dict(sorted(Counter(o.kind for o in plan).items()))
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env={**os.environ, "TACTFUL_DATA_DIR": str(workspace / ".data")},
        )
        server = _Server(proc, report)
        started = time.monotonic()
        try:
            await _session(server, plan, uri, report, progress)
        finally:
            report.seconds = round(time.monotonic() - started, 1)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()
            server.reader.cancel()
    return report


async def _session(server: _Server, plan: list[Outgoing], uri: str, report: Report,
                   progress: bool) -> None:
    proc = server.proc
    await server.request(1, "initialize", {
        "processId": None, "rootUri": uri.rsplit("/", 1)[0],
        "capabilities": {}, "initializationOptions": {"tactful": {"timeBudgetMs": 5000}}})
    server.notify("initialized", {})
    await _ordinary_completion(server, 2, uri)  # waits for the model
    report.memory_parts.append(_rss_mb(proc.pid))
    report.memory_start_mb = round(sum(report.memory_parts[0].values()), 1)
    for i, out in enumerate(plan):
        if server.reader.done():  # stdout closed, or this reader's own bug: stop here
            server.reader.result()
            break
        while server.in_flight() >= WINDOW and proc.returncode is None:
            if server.overdue():
                break
            await asyncio.sleep(0.01)
        if proc.returncode is not None:
            break
        if progress and i % 500 == 0:
            print(f"[fuzz] {i}/{len(plan)} sent", file=sys.stderr, flush=True)
        await server.send(out)
        _note_overdue(report, server.overdue())
    deadline = time.monotonic() + ANSWER_S + 1
    while server.in_flight() and time.monotonic() < deadline and proc.returncode is None:
        await asyncio.sleep(0.05)
    report.unanswered += [f"{kind} id={key} never answered"
                          for key, sends in server.waiting.items() for _, kind in sends]
    if proc.returncode is not None:
        report.server_died = f"exit status {proc.returncode}"
        return
    report.completion_after = await _ordinary_completion(server, 3, uri)
    await asyncio.sleep(1)
    report.memory_parts.append(_rss_mb(proc.pid))
    report.memory_end_mb = round(sum(report.memory_parts[-1].values()), 1)
    await server.request(4, "shutdown", None)
    for n, method in enumerate(["textDocument/inlineCompletion", "tactful/explain"]):
        try:
            answer = await server.request(5 + n, method, {
                "textDocument": {"uri": uri}, "position": {"line": 5, "character": 4}})
        except TimeoutError:
            report.after_shutdown_answers.append("none")
            continue
        report.after_shutdown_answers.append(
            f"error {answer['error']['code']}" if "error" in answer else "result")
    server.notify("exit", None)
    try:
        report.exit_code = await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        report.exit_code = None


async def _ordinary_completion(server: _Server, msg_id: int, uri: str) -> bool:
    """The document opened afresh (the fuzzing changed or closed it), cut after
    `words = text.`, and an invoked completion there: True if it has an item."""
    cut = DOCUMENT.index("words = text.") + len("words = text.")
    text = DOCUMENT[:cut] + DOCUMENT[DOCUMENT.index("\n", cut):]
    line = text[:cut].count("\n")
    character = cut - (text.rfind("\n", 0, cut) + 1)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}})
    answer = await server.request(msg_id, "textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character},
        "context": {"triggerKind": 1}})
    result = answer.get("result")
    items = result.get("items", []) if isinstance(result, dict) else result or []
    return bool(items)


def format_report(report: Report) -> str:
    data = report.to_json()
    lines = [f"Fuzzing the server: {report.messages} messages, "
             f"{'passed' if report.passed else 'FAILED'}", "", "| figure | value |",
             "|---|---|"]
    for key in ("seconds", "requests_owed", "answered", "parse_errors_owed",
                "slowest_answer_s", "errors_by_code",
                "pop_ups", "server_died", "completion_after", "after_shutdown_answers",
                "exit_code", "memory_start_mb", "memory_end_mb", "memory_growth_mb",
                "memory_parts",
                "kinds"):
        lines.append(f"| {key.replace('_', ' ')} | {data[key]} |")
    for problem in report.unanswered[:10] + report.stdout_violations[:10]:
        lines.append(f"| problem | {problem} |")
    return "\n".join(lines)
