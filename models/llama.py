"""The embedded back end: a GGUF model run in-process through llama.cpp (llama-cpp-python).

One `LlamaBackend` owns one llama.cpp context, so one thread at a time may call it. The
context keeps its KV cache between calls; llama-cpp-python re-evaluates only the tokens
after the longest common prefix with the previous prompt, which is why the engine keeps
the stable parts of a prompt first.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from models import fim as fim_templates
from models.backend import GenerationParams, Prompt, StreamStats, Token
from models.errors import ModelLoadError
from models.fim import FimTemplate, RepoLayout
from models.native_log import forward_native_logs
from models.settings import COLD_CHUNK, LlamaSettings
from models.threads import (
    DecodeTrial,
    ThreadGovernor,
    available_cores,
)

log = logging.getLogger(__name__)


def _keep_stdout_open() -> None:
    """llama-cpp-python quiets llama.cpp by pointing the whole process's stdout and stderr
    at /dev/null while a model loads. In the language server stdout is the protocol: what
    the other threads send meanwhile would be lost. llama.cpp's log goes to Python's
    logging at DEBUG instead (models.native_log), so `verbose` stays False everywhere."""
    import llama_cpp._internals
    import llama_cpp.llama

    def no_redirection(disable: bool = True) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    for module in (llama_cpp.llama, llama_cpp._internals):
        setattr(module, "suppress_stdout_stderr", no_redirection)  # noqa: B010


_keep_stdout_open()
forward_native_logs()

GGUF_MAGIC = b"GGUF"
# Prompt tokens evaluated between two looks at the cancel flag: a keystroke stops a long
# prompt within about one chunk, and what was evaluated stays in the KV cache for the next
# prompt that shares it. Small enough to answer fast, large enough to batch well.
PROMPT_CHUNK = 32
COUNTS_KEPT = 256  # token counts remembered by text
# Tokens remembered by text: the prompt's parts, which the engine has just counted to budget
# them (the file's window, the suffix) or which stay from keystroke to keystroke (snippets).
TOKENS_KEPT = 16


@contextlib.contextmanager
def _extra_buffer_types(enabled: bool) -> Iterator[None]:
    """llama-cpp-python sets no `use_extra_bufts`: while a model loads, its default model
    parameters carry the choice (the worker loads one model at a time, on one thread)."""
    if enabled:
        yield
        return
    defaults = llama_cpp.llama_cpp.llama_model_default_params
    disable_extra_buffer_types()
    try:
        yield
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = defaults


def disable_extra_buffer_types() -> None:
    """Every model this process loads from now on does without llama.cpp's extra buffer
    types (for a process that cannot pass the setting, such as llama-cpp-python's server)."""
    module = llama_cpp.llama_cpp
    defaults = module.llama_model_default_params

    def without_extra_bufts() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = without_extra_bufts


def check_gguf(path: Path) -> None:
    """A clear error for a missing, empty or non-GGUF file, before llama.cpp sees it."""
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}; check tactful.model, or choose "
                             "one from `tactful models list`")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF model (it starts with {magic!r}, expected {GGUF_MAGIC!r}); "
            "it may be corrupt or incomplete: pull it again"
        )


class LlamaStream:
    """A `TokenStream` over a generator of tokens and the stats it fills in."""

    def __init__(self, tokens: Iterator[Token], stats: StreamStats) -> None:
        self._tokens = tokens
        self.stats = stats

    def __iter__(self) -> Iterator[Token]:
        return self._tokens

    def close(self) -> None:
        close = getattr(self._tokens, "close", None)
        if close is not None:
            close()


class LlamaBackend:
    remote = False

    def __init__(self, path: Path, settings: LlamaSettings | None = None, name: str = "") -> None:
        settings = settings or LlamaSettings()
        check_gguf(path)
        started = time.perf_counter()
        threads = settings.n_threads or available_cores()
        options: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": settings.n_ctx,
            "n_threads": threads,
            # Prompt batches too: llama-cpp-python would otherwise use every core for them
            # whatever `threads` says.
            "n_threads_batch": threads,
            "n_gpu_layers": settings.n_gpu_layers,
            "n_batch": settings.n_batch,
            "n_ubatch": settings.n_batch,
            "logits_all": False,
            "verbose": False,
        }
        try:
            with _extra_buffer_types(settings.extra_bufts):
                try:
                    # Keys in 8 bits: 7 MiB less for the embedded model at 1,280 tokens, its
                    # likelihood of held-out code unchanged (1.8942 → 1.8924 nats/token).
                    self._llm = llama_cpp.Llama(**options, type_k=llama_cpp.GGML_TYPE_Q8_0)
                except ValueError as exc:
                    # Heads narrower than a q8_0 block (32) cannot be; llama.cpp refuses the
                    # context, and f16 keys will do. A file it could not load is not retried.
                    if "llama_context" not in str(exc):
                        raise
                    self._llm = llama_cpp.Llama(**options)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}; the file may be "
                                 "damaged (pull it again) or too new for this llama.cpp "
                                 "(see tactful doctor)") from exc
        self.load_seconds = time.perf_counter() - started
        self.name = name or path.name
        self.path = path
        self._vocab = self._llm._model.vocab
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._scratch = np.empty(self._n_vocab, dtype=np.float32)
        metadata: dict[str, str] = dict(self._llm.metadata)
        if settings.fim is not None:
            self._fim = fim_templates.template(settings.fim)
        else:
            self._fim = fim_templates.detect(metadata, self.has_special_token)
        self._layout = fim_templates.repo_layout(self._fim, self.has_special_token)
        self._extra_stop_ids = self._fim_stop_ids()
        self._add_bos = self._llm._model.add_bos_token()
        self._reuse_kv_cache = settings.reuse_kv_cache
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._tokens: OrderedDict[str, array[int]] = OrderedDict()
        self._bos_composes = self._add_bos and self._bos_then_text()
        self._threads = (threads, threads)  # as llama.cpp has them: decoding, prompts
        auto = settings.n_threads is None
        self._prompt_governor = ThreadGovernor(threads, min_tokens=8, adaptive=auto)
        # Chosen threads are kept; else one decodes until the trial shows more pay.
        self._decode_trial = DecodeTrial(threads) if auto and threads > 1 else None
        self._decode_governor = ThreadGovernor(1 if self._decode_trial else threads,
                                               adaptive=auto)
        self._use_threads(self._decode_governor.cores, threads)
        log.info(
            "loaded %s in %.2fs (fim: %s; threads: %s decoding, %d for prompts)",
            path.name, self.load_seconds, self._fim.family if self._fim else "none",
            "timed on the first suggestions" if self._decode_trial else threads, threads,
        )

    def describe(self) -> str:
        return f"{self.name} loaded in this process"

    def health(self) -> str | None:
        return None

    def close(self) -> None:
        self._llm.close()

    @property
    def decode_threads(self) -> int:
        """The decoding threads chosen (or set), before any back-off for busy cores; with
        automatic threads, one until the first decode steps have been timed."""
        return self._decode_governor.cores

    @property
    def fim(self) -> FimTemplate | None:
        return self._fim

    @property
    def repo_layout(self) -> RepoLayout | None:
        return self._layout

    @property
    def context_size(self) -> int:
        # llama.cpp rounds its context up (to 256), llama-cpp-python's token buffer keeps
        # the size asked for: the smaller one is what fits.
        return min(int(self._llm.n_ctx()), len(self._llm.input_ids))

    def has_special_token(self, text: str) -> bool:
        ids = self._llm.tokenize(text.encode(), add_bos=False, special=True)
        return len(ids) == 1 and self._piece(ids[0], special=True) == text.encode()

    def count_tokens(self, text: str) -> int:
        # Prompts are budgeted on every keystroke from mostly the same pieces (the header,
        # the context's snippets): count each once.
        count = self._counts.get(text)
        if count is None:
            count = len(self._text_tokens(text))
            self._counts[text] = count
            if len(self._counts) > COUNTS_KEPT:
                self._counts.popitem(last=False)
        return count

    def tokenize(self, prompt: Prompt) -> list[int]:
        ids: list[int] = []
        for i, (text, special) in enumerate(prompt.parts):
            bos = self._add_bos and i == 0
            if special or (bos and not self._bos_composes):
                ids += self._llm.tokenize(text.encode(), add_bos=bos, special=special)
            else:
                ids += [self._llm.token_bos()] if bos else []
                ids += self._text_tokens(text)
        return ids

    def _text_tokens(self, text: str) -> array[int]:
        """`text`'s tokens (no BOS, no special tokens), remembered: the engine counts a
        prompt's parts to budget them, then the prompt is tokenized, ~1.4 ms a time for the
        embedded model's window of the file."""
        ids = self._tokens.get(text)
        if ids is None:
            ids = array("i", self._llm.tokenize(text.encode(), add_bos=False, special=False))
            self._tokens[text] = ids
            if len(self._tokens) > TOKENS_KEPT:
                self._tokens.popitem(last=False)
        else:
            self._tokens.move_to_end(text)
        return ids

    def _bos_then_text(self) -> bool:
        """Whether tokenizing with BOS is BOS then the text's own tokens, as llama.cpp does
        unless a vocabulary adds more (an end token, a prefix space): only then may a part's
        remembered tokens follow a BOS."""
        probes = ("def f(x):\n    return x\n", " x = 1", "\n\tfoo")
        bos = self._llm.token_bos()
        return all(
            self._llm.tokenize(t.encode(), add_bos=True, special=False)
            == [bos, *self._llm.tokenize(t.encode(), add_bos=False, special=False)]
            for t in probes
        )

    def stream(self, prompt: Prompt, params: GenerationParams) -> LlamaStream:
        stats = StreamStats(stopped_by="max_tokens")
        return LlamaStream(self._tokens_after(prompt, params, stats), stats)

    def _tokens_after(self, prompt: Prompt, params: GenerationParams,
                      stats: StreamStats) -> Iterator[Token]:
        """Greedy tokens after `prompt`, filling in `stats`; the caller stops it by closing
        the generator. Each token handed out but the last is evaluated into the KV cache,
        so a closed stream leaves the cache at the text the caller kept."""
        if not self._reuse_kv_cache:
            self._llm.reset()
        tokens = self._prompt_tokens(prompt, params.max_tokens)
        stats.prompt_tokens = len(tokens)
        if not tokens:
            # Nothing to condition on (an empty file, a model without BOS): llama.cpp
            # cannot sample from an empty context.
            stats.stopped_by = "empty_prompt"
            return
        stats.reused_tokens = reused = self._common_prefix(tokens)
        started = time.perf_counter()
        # All but the last token in cancellable chunks; the last one alone then gives the
        # logits of the first token to generate.
        if not self._evaluate(tokens[:-1], params, min(reused, len(tokens) - 1)):
            stats.stopped_by = "cancelled"
            stats.prompt_ms = (time.perf_counter() - started) * 1000
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        first_token_at: float | None = None
        last_token_at = 0.0
        self._decode(tokens[-1])
        try:
            for n_generated in range(1, params.max_tokens + 1):
                token, logprob = self._greedy_token()
                now = time.perf_counter()
                if first_token_at is None:
                    first_token_at = now
                    stats.prompt_ms = (now - started) * 1000
                else:
                    self._decode_governor.done(self._threads[0], 1, now - last_token_at)
                    stats.decode_ms = (now - first_token_at) * 1000
                last_token_at = now
                if token in self._extra_stop_ids or llama_cpp.llama_vocab_is_eog(
                        self._vocab, token):
                    stats.stopped_by = "eos"
                    break
                yield Token(decoder.decode(self._piece(token)), logprob)
                if n_generated < params.max_tokens:
                    self._decode(token)
        except GeneratorExit:
            stats.stopped_by = "cancelled"
            raise

    def _greedy_token(self) -> tuple[int, float]:
        """The most likely next token after the last evaluated one, and its log-probability.

        Read straight from llama.cpp's logits into one buffer kept for the purpose:
        llama.cpp's sampler, and a log-probability taken in a llama-cpp-python logits
        processor, allocate vocabulary-sized arrays per token, whose freed holes the
        allocator could not reuse (+36 MiB resident over 40 completions with a 151k-token
        vocabulary).
        """
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(self._llm.ctx, -1), shape=(self._n_vocab,)
        )
        token = int(logits.argmax())
        # Greedy picks the arg-max, so its log-probability is -log(sum(exp(logits - max))).
        np.subtract(logits, logits[token], out=self._scratch)
        np.exp(self._scratch, out=self._scratch)
        return token, -float(np.log(self._scratch.sum()))

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        if not self._reuse_kv_cache:
            return 0  # nothing would survive to the next request
        tokens = self._prompt_tokens(prompt, params.max_tokens)
        before = self._common_prefix(tokens)
        self._evaluate(tokens, params, before)
        return max(0, self._llm.n_tokens - before)

    def _prompt_tokens(self, prompt: Prompt, max_tokens: int) -> list[int]:
        tokens = self.tokenize(prompt)
        limit = self.context_size - max_tokens
        if len(tokens) > limit:
            # The engine budgets prompts; this only guards a caller that did not.
            tokens = tokens[len(tokens) - limit :]
        return tokens

    def _evaluate(self, tokens: list[int], params: GenerationParams, done: int) -> bool:
        """Bring the KV cache to `tokens`, reusing their common prefix with what it holds
        (`done`: `_common_prefix(tokens)`, which the caller has counted already), in chunks
        with a look at the cancel flag between them. False if cancelled (the chunks done so
        far stay cached)."""
        llm = self._llm
        if done == len(tokens) and done == llm.n_tokens:
            return True
        llm.n_tokens = done  # llama-cpp-python's eval drops the KV cache from here on
        start = done
        while start < len(tokens):
            if params.stopped():
                return False
            size = COLD_CHUNK if len(tokens) - start > COLD_CHUNK else PROMPT_CHUNK
            chunk = tokens[start : start + size]
            threads = self._prompt_governor.threads()
            self._use_threads(self._threads[0], threads)
            began = time.perf_counter()
            llm.eval(chunk)
            self._prompt_governor.done(threads, len(chunk), time.perf_counter() - began)
            start += len(chunk)
        return True

    def _use_threads(self, decode: int, prompts: int) -> None:
        """Set llama.cpp's thread counts (read at its next evaluation, even mid-generation)."""
        if (decode, prompts) != self._threads:
            llama_cpp.llama_set_n_threads(self._llm.ctx, decode, prompts)
            self._threads = (decode, prompts)

    def _decode(self, token: int) -> None:
        """One token through the model, on the threads decoding has now; while the decode
        trial runs, on its threads, timed, unless the cores are busy with something else
        (prompts have backed off to one thread), which would skew the timing."""
        trial = self._decode_trial
        if trial is None or trial.choice is not None or self._prompt_governor.threads() == 1:
            self._use_threads(self._decode_governor.threads(), self._threads[1])
            self._llm.eval([token])
            return
        threads = trial.threads()
        self._use_threads(threads, self._threads[1])
        began = time.perf_counter()
        self._llm.eval([token])
        trial.timed(threads, (time.perf_counter() - began) * 1000)
        if trial.choice is not None:
            self._decode_governor.cores = trial.choice
            log.info("decoding on %d thread(s): %.2f ms per token on 1, %.2f on %d",
                     trial.choice, trial.fastest_ms(1), trial.fastest_ms(trial.cores),
                     trial.cores)

    def _common_prefix(self, tokens: list[int]) -> int:
        n = 0
        for a, b in zip(self._llm._input_ids, tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def _piece(self, token: int, special: bool = False) -> bytes:
        # llama-cpp-python's own detokenizer asserts on pieces over 32 bytes (long
        # whitespace runs in code vocabularies); ask again with the size llama.cpp needs.
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def _fim_stop_ids(self) -> set[int]:
        """Tokens that end a FIM middle or a file of the repository layout, which the
        vocabulary may not mark end-of-generation."""
        ids: set[int] = set()
        stops = (*(self._fim.stop_tokens if self._fim else ()),
                 *(self._layout.tokens if self._layout else ()))
        for tok in stops:
            found = self._llm.tokenize(tok.encode(), add_bos=False, special=True)
            if len(found) == 1:
                ids.add(found[0])
        return ids


def load_tokenizer(model: str | None = None) -> Callable[[str], int]:
    """A token counter of `model` (the default if None), from its vocabulary alone."""
    from models.registry import DEFAULT_MODEL
    from models.store import resolve

    path = resolve(model or DEFAULT_MODEL).path
    check_gguf(path)
    try:
        vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"llama.cpp could not read the vocabulary of {path}: {exc}") from exc

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    return count
