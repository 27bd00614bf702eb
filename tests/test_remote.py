"""Remote engines: the `engine` setting, the requests built for each kind of server, and
the server-sent events read back. The end-to-end tests against real servers are in
test_remote_e2e.py."""

from __future__ import annotations

from typing import Any

import pytest

from completion.prompt import PromptBudget, build_prompt
from context.snippet import Snippet
from lsp import config
from models import fim as fim_templates
from models.backend import GenerationParams, Token
from models.remote import EngineSpec, RemoteBackend, _events, family_for_name, parse_engine


def test_the_engine_setting_is_embedded_or_a_server() -> None:
    assert parse_engine("embedded") is None
    spec = parse_engine({"kind": "openai", "url": "http://127.0.0.1:8000/v1/",
                         "model": "Qwen/Qwen2.5-Coder-1.5B", "apiKeyEnv": "TEAM_TOKEN"})
    assert spec == EngineSpec("openai", "http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-Coder-1.5B",
                              None, "TEAM_TOKEN", None, 10_000)
    for bad, why in [
        ({"kind": "tgi", "url": "http://x"}, "kind must be one of"),
        ({"kind": "llama.cpp", "url": "ftp://x"}, "url must be an http"),
        ({"kind": "openai", "url": "http://x"}, "model"),
        ({"kind": "openai", "url": "http://x", "model": "m", "fim": "gpt"}, "fim must be"),
        ({"kind": "llama.cpp", "url": "http://x", "timeoutMs": 5}, "timeoutMs"),
        ({"kind": "llama.cpp", "url": "http://x", "apiKey": "secret"}, "unknown keys apiKey"),
        ("remote", 'expected "embedded"'),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_engine(bad)


def test_a_bad_engine_setting_is_reported_and_replaced_by_the_default() -> None:
    parsed, errors = config.parse({"engine": {"kind": "llama.cpp", "url": "localhost:8080"}})
    assert parsed.engine == "embedded"
    assert errors and "tactful.engine: url must be an http" in errors[0]
    good = {"kind": "llama.cpp", "url": "http://127.0.0.1:8080"}
    parsed, errors = config.parse({"engine": good})
    assert parsed.engine == good and errors == []


def test_the_fim_template_comes_from_the_model_name() -> None:
    assert family_for_name("Qwen/Qwen2.5-Coder-7B") == "qwen"
    assert family_for_name("qwen2.5-coder:1.5b-base") == "qwen"  # Ollama's naming
    assert family_for_name("bigcode/starcoder2-3b") == "starcoder"
    assert family_for_name("deepseek-coder-1.3b-base") == "deepseek"
    assert family_for_name("codellama/CodeLlama-7b-hf") == "codellama"
    assert family_for_name("Qwen/Qwen2.5-7B-Instruct") is None  # not a code model
    assert family_for_name("llama3") is None


def openai_backend(model: str, **spec: Any) -> RemoteBackend:
    return RemoteBackend(EngineSpec("openai", "http://127.0.0.1:9/v1", model, **spec))


def test_openai_requests_carry_tactfuls_own_fim_prompt() -> None:
    backend = openai_backend("Qwen/Qwen2.5-Coder-1.5B")
    assert backend.fim is fim_templates.TEMPLATES["qwen"]
    prompt = build_prompt(prefix="def add(a, b):\n    return a", suffix="\n\nprint(1)\n",
                          path="calc.py", language="python", fim=backend.fim,
                          budget=PromptBudget(), count=backend.count_tokens,
                          layout=backend.repo_layout, repo="calc")
    path, body = backend._request(prompt, GenerationParams(max_tokens=16, stop=("\n",)))
    assert path == "/completions"  # the URL ends in /v1 already
    assert body["prompt"].startswith("<|repo_name|>calc\n<|file_sep|><|fim_prefix|>calc.py\n")
    assert body["prompt"].endswith("<|fim_suffix|>\n\nprint(1)\n<|fim_middle|>    return a")
    assert body["logprobs"] == 1 and body["stream"] is True and body["max_tokens"] == 16
    assert body["stop"][0] == "\n" and "<|file_sep|>" in body["stop"]
    assert "suffix" not in body  # vLLM refuses it


def test_llama_server_infill_gets_prefix_suffix_and_context_apart() -> None:
    backend = RemoteBackend.__new__(RemoteBackend)  # no server to discover: logic only
    backend.spec = EngineSpec("llama.cpp", "http://127.0.0.1:9")
    backend._fim = fim_templates.TEMPLATES["qwen"]
    snippets = [Snippet("util.py", "def helper(x):\n    return x\n")]
    prompt = build_prompt(prefix="import util\n\ndef f(y):\n    return util.", suffix="\n",
                          path="main.py", language="python", fim=backend.fim,
                          budget=PromptBudget(), count=len, snippets=snippets)
    path, body = backend._request(prompt, GenerationParams(max_tokens=8))
    assert path == "/infill"
    assert body["input_prefix"] == "# main.py\nimport util\n\ndef f(y):\n"
    assert body["prompt"] == "    return util."
    assert body["input_suffix"] == "\n"
    assert body["input_extra"] == [{"filename": "util.py",
                                    "text": "def helper(x):\n    return x\n"}]
    assert body["cache_prompt"] is True and body["n_probs"] == 1 and body["stream"] is True
    assert body["n_predict"] == 8 and "t_max_predict_ms" in body and "stop" in body


def test_server_sent_events_become_tokens_with_log_probabilities() -> None:
    llama = list(_events({"content": " x", "stop": False, "completion_probabilities": [
        {"id": 1, "token": " x", "logprob": -0.25, "top_logprobs": []}]}))
    assert llama == [("token", Token(" x", -0.25))]
    last = list(_events({"content": "", "stop": True, "stop_type": "limit",
                         "tokens_evaluated": 40, "tokens_cached": 48,
                         "timings": {"cache_n": 32, "prompt_n": 8}}))
    assert last == [("timings", {"prompt_tokens": 40, "reused_tokens": 32}),
                    ("end", {"stopped_by": "max_tokens"})]
    openai = list(_events({"choices": [{"text": "a + b", "finish_reason": None, "logprobs": {
        "tokens": ["a", " +", " b"], "token_logprobs": [-0.1, -0.2, -0.3]}}]}))
    assert openai == [("token", Token("a", -0.1)), ("token", Token(" +", -0.2)),
                      ("token", Token(" b", -0.3))]
    done = list(_events({"choices": [{"text": "", "finish_reason": "stop", "logprobs": None}]}))
    assert done == [("end", {"stopped_by": "eos"})]
