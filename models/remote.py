"""Remote engines: an inference server the user, or the team, already runs.

Two kinds, both behind the streaming back-end interface, both streamed (server-sent
events) with each token's log-probability, which the acceptance gate needs:

- `llama.cpp`: llama.cpp's `llama-server`, `POST /infill` with the prefix, the suffix and
  the retrieved context as `input_extra` (the server lays them out in its model's own
  template, and reuses its prompt cache); for a model without fill-in-the-middle (`/infill`
  answers 501), `POST /completion` with the prefix-only prompt, said once;
- `openai`: `POST /v1/completions` of any OpenAI-compatible server (vLLM, Ollama, LM
  Studio, llama-server's own). Tactful renders the FIM prompt itself from its registry,
  since vLLM refuses `suffix`; the template comes from the model's name or `fim`.

Closing a stream closes its connection, so the server stops working on it. A server that
cannot be reached, or answers with an error, is reported once through the state listener
(`error`, with the URL and the reason) and tried again after a backoff (0.5, 1, 2, then
every 4 s); meanwhile requests fail at once, so none waits longer than its time budget.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from models import fim as fim_templates
from models.backend import GenerationParams, Prompt, StreamStats, Token
from models.errors import ModelError, ModelUnavailableError
from models.fim import FimTemplate, RepoLayout

log = logging.getLogger(__name__)

KINDS = ("llama.cpp", "openai")
# Tried again after 0.5, 1, 2, then every 4 s: one request in 4 s per developer is no
# load for a server that is down, and a server that comes back is used within 4 s.
BACKOFF_S = (0.5, 1, 2, 4)
UNREACHABLE_FIX = "is the server running, and is tactful.engine's url right?"
POLL_S = 0.01
MAX_RESPONSE_BYTES = 4 << 20  # a completion is a few hundred bytes a token
DEFAULT_TIMEOUT_MS = 10_000
# Without a tokenizer at hand, prompts are budgeted at this many characters a token: a
# little under what code tokenizers average, so a prompt budgeted so fits.
CHARS_PER_TOKEN = 3.0
DEFAULT_CONTEXT = 4096
# The markers of this template are never sent: llama-server's /infill lays the pieces out
# in its own model's template. It only tells the engine to build a prompt with a suffix.
SERVER_FIM = FimTemplate("server", "<FIM_PRE>", "<FIM_SUF>", "<FIM_MID>", ())
# Model names that tell their FIM family, for OpenAI-compatible servers.
FAMILY_BY_NAME = (("codegemma", "codegemma"), ("qwen", "qwen"), ("starcoder", "starcoder"),
                  ("deepseek", "deepseek"), ("codellama", "codellama"),
                  ("code-llama", "codellama"))

StateListener = Callable[[str, str], None]


@dataclass(frozen=True)
class EngineSpec:
    """The `engine` setting, when it names a server."""

    kind: str
    url: str
    model: str = ""
    fim: str | None = None  # a registry family, for `openai`: overrides the model's name
    api_key_env: str | None = None  # the environment variable holding a bearer token
    ca_bundle: str | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS


def parse_engine(raw: Any) -> EngineSpec | None:
    """The `engine` setting: None for "embedded", else the server it names. Raises
    ValueError with what is wrong."""
    if raw == "embedded":
        return None
    if not isinstance(raw, dict):
        raise ValueError(f'expected "embedded" or an object with kind and url, got {raw!r}')
    known = {"kind", "url", "model", "fim", "apiKeyEnv", "caBundle", "timeoutMs"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    kind, url = raw.get("kind"), raw.get("url")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
    model = raw.get("model", "")
    if not isinstance(model, str) or (kind == "openai" and not model.strip()):
        raise ValueError("model (the served model's name) is required for kind openai")
    fim = raw.get("fim")
    if fim is not None and (not isinstance(fim, str) or
                            (fim != "none" and fim not in fim_templates.TEMPLATES)):
        raise ValueError(f"fim must be none or one of {', '.join(fim_templates.TEMPLATES)}")
    for key in ("apiKeyEnv", "caBundle"):
        if key in raw and not isinstance(raw[key], str):
            raise ValueError(f"{key} must be a string")
    timeout = raw.get("timeoutMs", DEFAULT_TIMEOUT_MS)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 100 <= timeout <= 600_000:
        raise ValueError(f"timeoutMs must be an integer from 100 to 600000, got {timeout!r}")
    return EngineSpec(kind, url.rstrip("/"), model, fim, raw.get("apiKeyEnv"),
                      raw.get("caBundle"), timeout)


def family_for_name(model: str) -> str | None:
    name = model.lower()
    for needle, family in FAMILY_BY_NAME:
        if needle in name and ("coder" in name or family in ("codegemma", "codellama",
                                                             "starcoder")):
            return family
    return None


class RemoteBackend:
    """A model served over HTTP by llama.cpp's server or an OpenAI-compatible one."""

    remote = True

    def __init__(self, spec: EngineSpec, on_state: StateListener | None = None) -> None:
        self.spec = spec
        self.on_state: StateListener = on_state or (lambda state, detail: None)
        self.name = f"{spec.model or spec.kind} at {spec.url}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(spec.timeout_ms / 1000),
            follow_redirects=False,  # a redirect to another host would carry the code away
            verify=ssl.create_default_context(cafile=spec.ca_bundle) if spec.ca_bundle
            else True,
        )
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._reported: str | None = None  # the error the user was told of last
        self._said: set[str] = set()  # notes told once (no FIM, ...)
        self._fim: FimTemplate | None = None
        self._context = DEFAULT_CONTEXT
        if spec.kind == "llama.cpp":
            self._discover_llama_server()
        else:
            family = spec.fim or family_for_name(spec.model) or "none"
            self._fim = fim_templates.template(family)
            if self._fim is None:
                self._say_once(f"{spec.model} has no known fill-in-the-middle template: "
                               "completions use the code before the cursor only (set "
                               '"fim" in the engine setting if the model has one)')

    # -- what the engine reads --------------------------------------------------------

    @property
    def fim(self) -> FimTemplate | None:
        return self._fim

    @property
    def repo_layout(self) -> RepoLayout | None:
        if self.spec.kind == "llama.cpp" or self._fim is None or not self._fim.file_sep:
            return None  # llama-server lays out input_extra itself
        return RepoLayout(self._fim.file_sep, self._fim.repo_name)

    @property
    def context_size(self) -> int:
        return self._context

    def count_tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))

    def health(self) -> str | None:
        """The last failure, until the server answers again."""
        return self._reported

    def describe(self) -> str:
        what = {"llama.cpp": "llama.cpp server", "openai": "OpenAI-compatible server"}
        model = f", model {self.spec.model}" if self.spec.model else ""
        mode = "fill-in-the-middle" if self._fim is not None else "prefix only"
        return f"{what[self.spec.kind]} at {self.spec.url}{model} ({mode})"

    def close(self) -> None:
        self._client.close()

    # -- requests ---------------------------------------------------------------------

    def stream(self, prompt: Prompt, params: GenerationParams) -> HttpStream:
        path, body = self._request(prompt, params)
        return HttpStream(self, path, body, params)

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        return 0  # the server keeps its own prompt cache; nothing to do ahead of time

    def _request(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, Any]]:
        """The route and body of a streamed greedy completion of `prompt`."""
        stop = list(params.stop)
        if self.spec.kind == "openai":
            return "/completions" if self.spec.url.endswith("/v1") else "/v1/completions", {
                "model": self.spec.model, "prompt": prompt.text,
                "max_tokens": params.max_tokens, "temperature": 0, "logprobs": 1,
                "stream": True, "stop": stop + list(self._fim.stop_tokens if self._fim else ()),
            }
        budget_ms = (self.spec.timeout_ms if params.deadline is None else
                     max(1, int((params.deadline - time.monotonic()) * 1000)))
        common = {"n_predict": params.max_tokens, "cache_prompt": True, "n_probs": 1,
                  "temperature": 0, "top_k": 1, "stream": True, "stop": stop,
                  "t_max_predict_ms": budget_ms}
        if self._fim is not None and prompt.infill is not None:
            infill = prompt.infill
            return "/infill", {
                "input_prefix": infill.prefix, "input_suffix": infill.suffix,
                "prompt": infill.middle,
                "input_extra": [{"filename": name, "text": text} for name, text in infill.extra],
                **common,
            }
        return "/completion", {"prompt": prompt.text, **common}

    def headers(self) -> dict[str, str]:
        env = self.spec.api_key_env
        if not env:
            return {}
        token = os.environ.get(env)
        if not token:
            raise ModelUnavailableError(f"the environment variable {env} (apiKeyEnv) is not "
                                        "set: no token for the server")
        return {"Authorization": f"Bearer {token}"}

    def open(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """The response of a streamed request, its status checked. Raises ModelError."""
        with self._lock:
            if time.monotonic() < self._retry_at:
                raise ModelUnavailableError(self._reported or "the server is unavailable")
        url = self.spec.url + path
        try:
            request = self._client.build_request("POST", url, json=body, headers=self.headers())
            response = self._client.send(request, stream=True)
        except (httpx.ReadTimeout, httpx.PoolTimeout):
            # Reached, but busy (its slots taken): slow, not down. No backoff, no error
            # status; the request in hand goes unanswered, the next one tries again.
            self._say_once(f"{self.spec.url} is slow: no answer began within "
                           f"{self.spec.timeout_ms} ms (timeoutMs); are its slots all busy?")
            raise ModelUnavailableError(f"{url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise self.failed(f"cannot reach {self.spec.url}: {_reason(exc)}; {UNREACHABLE_FIX}"
                              ) from None
        if response.is_redirect:
            response.close()
            raise self.failed(f"{url} redirected to {response.headers.get('location')}; "
                              "redirects are refused: put the final address in the url")
        if response.status_code >= 400:
            detail = _error_detail(response)
            response.close()
            raise self.failed(f"{url} answered {response.status_code}: {detail}; check the "
                              "url, model and apiKeyEnv of tactful.engine")
        return response

    def failed(self, message: str, tell: bool = True) -> ModelError:
        """A failed request: told once (unless the caller tells it: `health` at start),
        then retried after a backoff."""
        with self._lock:
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            self._retry_at = time.monotonic() + delay
            new = message != self._reported
            self._reported = message
        if new:
            log.error("%s (retrying in %g s)", message, delay)
            if tell:
                self.on_state("error", message)
        return ModelUnavailableError(message)

    def succeeded(self) -> None:
        with self._lock:
            recovered = self._reported is not None
            self._failures = 0
            self._reported = None
        if recovered:
            log.info("%s answers again", self.spec.url)
            self.on_state("ready", self.describe())

    def _say_once(self, note: str) -> None:
        if note not in self._said:
            self._said.add(note)
            log.warning("%s", note)

    def _discover_llama_server(self) -> None:
        """The context size from /props, and whether /infill works (a model without FIM
        tokens answers 501). An unreachable server is reported and tried again later."""
        try:
            props = self._client.get(self.spec.url + "/props", headers=self.headers())
            if props.status_code == 200:
                settings = props.json().get("default_generation_settings", {})
                self._context = int(settings.get("n_ctx") or DEFAULT_CONTEXT)
            probe = self._client.post(self.spec.url + "/infill", headers=self.headers(), json={
                "input_prefix": "", "input_suffix": "", "n_predict": 0, "cache_prompt": False})
        except (httpx.TransportError, ValueError) as exc:
            self._fim = SERVER_FIM  # assumed until the server answers otherwise
            # The server reports `health` once the engine is up: not twice.
            self.failed(f"cannot reach {self.spec.url}: {_reason(exc)}; {UNREACHABLE_FIX}",
                        tell=False)
            return
        if probe.status_code in (404, 501):
            self._fim = None
            self._say_once(f"the llama.cpp server at {self.spec.url} cannot fill in the middle "
                           f"({_error_detail(probe)}): completions use /completion with the "
                           "code before the cursor only")
        else:
            self._fim = SERVER_FIM


class HttpStream:
    """The tokens of one streamed completion, read on a thread of their own so that the
    caller can give up (a keystroke, the deadline) while the server is still silent."""

    def __init__(self, backend: RemoteBackend, path: str, body: dict[str, Any],
                 params: GenerationParams) -> None:
        self.stats = StreamStats(stopped_by="eos", prompt_tokens=0)
        self._backend = backend
        self._params = params
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._response: httpx.Response | None = None
        self._closed = threading.Event()
        self._started = time.perf_counter()
        # The request is sent on the thread too: a server slow to begin answering must
        # not hold the model thread past a keystroke or the deadline.
        self._thread = threading.Thread(target=self._read, args=(path, body), daemon=True,
                                        name="tactful-remote-stream")
        self._thread.start()

    def _read(self, path: str, body: dict[str, Any]) -> None:
        try:
            response = self._backend.open(path, body)
        except ModelError as exc:
            self._events.put(("failed", exc))
            return
        self._response = response
        if self._closed.is_set():  # given up while the server was silent
            response.close()
            return
        received = 0
        try:
            for line in response.iter_lines():
                received += len(line)
                if received > MAX_RESPONSE_BYTES:
                    self._events.put(("end", {"stopped_by": "max_tokens"}))
                    return
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                for event in _events(json.loads(data)):
                    self._events.put(event)
            self._events.put(("end", {}))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if not self._closed.is_set():
                self._events.put(("error", exc))
        finally:
            response.close()

    def __iter__(self) -> Iterator[Token]:
        first_at: float | None = None
        while True:
            try:
                kind, value = self._events.get(timeout=POLL_S)
            except queue.Empty:
                # Before the first token the caller may give up on the prompt; after it,
                # cancel and the deadline still bound a server that stalls.
                if (first_at is None and self._params.stopped()) or _given_up(self._params):
                    self.stats.stopped_by = "cancelled"
                    self.close()
                    return
                continue
            if kind == "token":
                now = time.perf_counter()
                if first_at is None:
                    first_at = now
                    self.stats.prompt_ms = (now - self._started) * 1000
                    self._backend.succeeded()
                self.stats.decode_ms = (now - first_at) * 1000
                yield value
            elif kind == "timings":
                self.stats.prompt_tokens = value.get("prompt_tokens", self.stats.prompt_tokens)
                self.stats.reused_tokens = value.get("reused_tokens", 0)
            elif kind == "end":
                self.stats.stopped_by = value.get("stopped_by", self.stats.stopped_by)
                self._backend.succeeded()
                return
            elif kind == "failed":  # the request itself: already reported by open()
                raise value
            else:
                raise self._backend.failed(f"the stream from {self._backend.spec.url} broke: "
                                           f"{_reason(value)}")

    def close(self) -> None:
        """Close the connection: the server stops generating for it."""
        if not self._closed.is_set():
            self._closed.set()
            if self._response is not None:
                self._response.close()


def _events(chunk: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Tokens and facts from one server-sent event of either kind of server."""
    if "choices" in chunk:  # OpenAI-compatible
        for choice in chunk["choices"][:1]:
            logprobs = choice.get("logprobs") or {}
            pieces = logprobs.get("tokens") or []
            values = logprobs.get("token_logprobs") or []
            text = choice.get("text", "")
            if pieces and len(pieces) == len(values) and "".join(pieces) == text:
                for piece, value in zip(pieces, values, strict=True):
                    yield "token", Token(piece, float(value if value is not None else 0.0))
            elif text:
                mean = sum(v for v in values if v is not None) / len(values) if values else 0.0
                yield "token", Token(text, mean)
            if choice.get("finish_reason") == "stop":
                yield "end", {"stopped_by": "eos"}
            elif choice.get("finish_reason") == "length":
                yield "end", {"stopped_by": "max_tokens"}
        return
    # llama.cpp: a token per event, then a last event with "stop": true.
    probabilities = chunk.get("completion_probabilities") or chunk.get("probs") or []
    content = chunk.get("content", "")
    if content or probabilities:
        logprob = 0.0
        if probabilities:
            first = probabilities[0]
            logprob = float(first["logprob"]) if "logprob" in first else math.log(
                max(float(first.get("prob", 1.0)), 1e-12))
        yield "token", Token(content, logprob)
    if chunk.get("stop"):
        # The prompt's tokens taken from the slot's cache, and those evaluated anew
        # ("tokens_cached" counts the whole slot, generated tokens included).
        timings = chunk.get("timings") or {}
        cached, evaluated = int(timings.get("cache_n", 0)), int(timings.get("prompt_n", 0))
        yield "timings", {"prompt_tokens": cached + evaluated, "reused_tokens": cached}
        stop_type = chunk.get("stop_type", "eos")
        yield "end", {"stopped_by": "max_tokens" if stop_type == "limit" else "eos"}


def _given_up(params: GenerationParams) -> bool:
    if params.cancel is not None and params.cancel.is_set():
        return True
    return params.deadline is not None and time.monotonic() > params.deadline


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _error_detail(response: httpx.Response) -> str:
    """What the server said, short: the JSON error's message where it gave one."""
    try:
        response.read()
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:200]
    except (ValueError, httpx.HTTPError):
        return response.reason_phrase or "no detail"
