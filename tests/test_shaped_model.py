"""The random-weight GGUF in Qwen2.5-Coder's shape: a tiny variant through the same code."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import llama_cpp
import pytest

from completion.generation import generate
from evaluation.shaped_model import (
    QWEN25_CODER_05B,
    QWEN_SPECIAL_TOKENS,
    write_shaped_gguf,
)
from models.backend import GenerationParams, Prompt
from models.errors import ModelNotInstalledError
from models.llama import LlamaBackend, LlamaSettings
from models.store import resolve

SMOLLM2_VOCAB = 49152

TINY = dataclasses.replace(QWEN25_CODER_05B, name="tiny", layers=2, hidden=64, heads=4,
                           kv_heads=2, head_dim=16, ffn=128, vocab=SMOLLM2_VOCAB + 3000)


@pytest.fixture(scope="module")
def tokenizer_gguf() -> Path:
    try:
        return resolve("smollm2-135m").path
    except ModelNotInstalledError:
        pytest.skip("the SmolLM2 GGUF whose tokenizer is borrowed is not installed")


@pytest.fixture(scope="module")
def tiny_gguf(tokenizer_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("shaped") / "tiny.gguf", tokenizer_gguf,
                             seed=0, shape=TINY)


def test_the_full_shape_is_qwen25_coder_05b() -> None:
    shape = QWEN25_CODER_05B
    assert (shape.layers, shape.hidden, shape.heads, shape.kv_heads, shape.head_dim,
            shape.ffn, shape.vocab, shape.context) == (24, 896, 14, 2, 64, 4864, 151936, 32768)
    # The model card: 0.49B parameters, 0.36B of them outside the embedding.
    assert round(shape.parameters / 1e9, 2) == 0.49
    assert round((shape.parameters - shape.vocab * shape.hidden) / 1e9, 2) == 0.36


def test_inconsistent_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="heads"):
        dataclasses.replace(TINY, head_dim=32)
    with pytest.raises(ValueError, match="multiples of 32"):
        dataclasses.replace(TINY, ffn=100)


def test_loads_as_qwen2_with_qwen_fim(tiny_gguf: Path, tokenizer_gguf: Path,
                                     extra_bufts: bool) -> None:
    backend = LlamaBackend(tiny_gguf, LlamaSettings(
        extra_bufts=extra_bufts, n_ctx=512, n_threads=1))
    metadata = backend._llm.metadata
    assert metadata["general.architecture"] == "qwen2"
    assert metadata["qwen2.block_count"] == "2"
    assert metadata["qwen2.embedding_length"] == "64"
    assert metadata["qwen2.attention.head_count_kv"] == "2"
    assert metadata["general.file_type"] == "7"  # MOSTLY_Q8_0
    assert backend._llm.n_vocab() == TINY.vocab
    assert backend.fim is not None and backend.fim.family == "qwen"
    assert backend.repo_layout is not None
    assert backend.repo_layout.tokens == ("<|file_sep|>", "<|repo_name|>")
    assert all(backend.has_special_token(t) for t in QWEN_SPECIAL_TOKENS)

    # The borrowed tokenizer splits code exactly as SmolLM2 does.
    code = "def add(a, b):\n    return a + b  # ünïcode\n"
    smollm2 = llama_cpp.Llama(model_path=str(tokenizer_gguf), vocab_only=True, verbose=False)
    assert backend.tokenize(Prompt.plain(code)) == smollm2.tokenize(code.encode(), add_bos=False)

    prompt = Prompt(backend.fim.parts("def add(a, b):\n    return a", "\n\nprint(add(1, 2))\n"))
    generation = generate(backend, prompt, lambda text: None, GenerationParams(max_tokens=8))
    assert generation.prompt_tokens > 0
    assert 0 < generation.tokens <= 8


def test_same_seed_same_bytes(tiny_gguf: Path, tokenizer_gguf: Path, tmp_path: Path) -> None:
    again = write_shaped_gguf(tmp_path / "again.gguf", tokenizer_gguf, seed=0, shape=TINY)
    assert _sha256(again) == _sha256(tiny_gguf)
    assert not (tmp_path / "again.gguf.partial").exists()


def test_refuses_a_vocabulary_smaller_than_the_tokenizer(tokenizer_gguf: Path,
                                                         tmp_path: Path) -> None:
    small = dataclasses.replace(TINY, vocab=SMOLLM2_VOCAB)
    with pytest.raises(ValueError, match="smaller"):
        write_shaped_gguf(tmp_path / "small.gguf", tokenizer_gguf, shape=small)
    assert list(tmp_path.iterdir()) == []


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

