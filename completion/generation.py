"""One generation: a back end's token stream, stopped where the engine decides.

Every back end (the embedded worker, a remote server) only streams greedy tokens; the
stop rules, the watch of what the user types meanwhile, cancel and the deadline are
applied here, token by token, the same for all of them.
"""

from __future__ import annotations

import time

from models.backend import Generation, GenerationParams, ModelBackend, Prompt, StopRule


def generate(backend: ModelBackend, prompt: Prompt, stop: StopRule,
             params: GenerationParams) -> Generation:
    """The text `backend` writes after `prompt` until the rule, cancel, the deadline, the
    end of generation or `params.max_tokens` stops it."""
    stream = backend.stream(prompt, params)
    text = ""
    logprobs: list[float] = []
    stopped_by = ""
    try:
        for token in stream:
            logprobs.append(token.logprob)
            text += token.text
            cut = stop(text)
            if cut is not None:
                text = text[:cut]
                stopped_by = "rule"
                break
            if params.stopped(text):
                stopped_by = "cancelled"
                break
            if _expired(params):
                stopped_by = "deadline"
                break
            if len(logprobs) >= params.max_tokens:
                stopped_by = "max_tokens"
                break
    finally:
        stream.close()
    stats = stream.stats
    return Generation(
        text=text,
        stopped_by=stopped_by or stats.stopped_by,
        tokens=len(logprobs),
        token_logprobs=logprobs,
        prompt_tokens=stats.prompt_tokens,
        reused_tokens=stats.reused_tokens,
        prompt_ms=stats.prompt_ms,
        decode_ms=stats.decode_ms,
    )


def _expired(params: GenerationParams) -> bool:
    return params.deadline is not None and time.monotonic() > params.deadline
