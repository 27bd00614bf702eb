"""A GGUF with the exact shape of Qwen2.5-Coder-0.5B and random weights, for speed benchmarks.

Latency gains must hold at the size users run, but the real weights need Hugging Face. The
cost of a forward pass depends on the shape and the quantization, not on the values, so a
seeded random model of the same shape, written as Q8_0 like the registry's qwen entries,
should time like the real one (not measured against it: its weights are out of reach).

None of Qwen's tokenizers is available offline, so the vocabulary is SmolLM2's GPT-2-style
BPE (its tokens, merges, BOS and EOS), padded with unused tokens to Qwen's 151,936 rows: the
tied output matrix is 28% of the weights each decoded token reads. Qwen's FIM and
repository tokens are among the padding, so the prompt is laid out as for Qwen.

Greedy decoding with random weights picks random tokens and would rarely write a newline,
so suggestions would run to the token limit. The output row of "\\n" is scaled up so that it
wins on a fraction of the steps: mid-line suggestions end after about ten tokens, like a
real model's (see NEWLINE_SCALE).

On the 2-core development machine, idle, 2 threads, the full file (530 MB) loads in 0.17 s
from the page cache, reads a 500-token prompt at 277 tokens/s and decodes at 68 tokens/s
(1 thread: 163 and 55). Any other load on the two cores slows it by far more than half.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from models.store import model_dir


@dataclass(frozen=True)
class ModelShape:
    """The hyper-parameters of a qwen2-architecture model."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    context: int
    rope_theta: float
    rms_eps: float

    def __post_init__(self) -> None:
        # llama.cpp's qwen2 derives the head size from these; Q8_0 packs rows by 32.
        if self.heads * self.head_dim != self.hidden:
            raise ValueError(f"{self.heads} heads of {self.head_dim} != hidden {self.hidden}")
        if self.heads % self.kv_heads:
            raise ValueError(f"{self.heads} heads do not share {self.kv_heads} KV heads evenly")
        if self.hidden % 32 or self.ffn % 32:
            raise ValueError("hidden and ffn sizes must be multiples of 32 (Q8_0 blocks)")

    @property
    def parameters(self) -> int:
        """Weights and biases, the tied embedding counted once (as the model card does)."""
        kv = self.kv_heads * self.head_dim
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv + self.hidden + 2 * kv
        block = attention + 3 * self.hidden * self.ffn + 2 * self.hidden
        return self.vocab * self.hidden + self.layers * block + self.hidden

    def describe(self) -> str:
        return (f"{self.name}: qwen2, {self.layers} layers, hidden {self.hidden}, "
                f"{self.heads} heads / {self.kv_heads} KV of {self.head_dim}, FFN {self.ffn}, "
                f"vocab {self.vocab}, context {self.context}, "
                f"{self.parameters / 1e6:.0f}M parameters")


# Qwen/Qwen2.5-Coder-0.5B's config.json (tie_word_embeddings: true, q/k/v biases).
QWEN25_CODER_05B = ModelShape(
    name="qwen2.5-coder-0.5b-shaped",
    layers=24,
    hidden=896,
    heads=14,
    kv_heads=2,
    head_dim=64,
    ffn=4864,
    vocab=151936,
    context=32768,
    rope_theta=1_000_000.0,
    rms_eps=1e-6,
)

DEFAULT_FILENAME = "qwen2.5-coder-0.5b-shaped-q8_0.gguf"

# Qwen2.5-Coder's FIM and repository-level tokens: models.fim detects the qwen family
# from the three FIM markers, and llama.cpp ends generation on the last three.
QWEN_SPECIAL_TOKENS = ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                       "<|repo_name|>", "<|file_sep|>")

NEWLINE = "Ċ"  # "\n" in GPT-2's byte-to-unicode alphabet

# How much larger the "\n" row is than the others. Measured on the full shape, seed 0,
# greedy FIM completions cut mid-line in sqlite_utils/db.py with the engine's line stop and
# 64 tokens at most: 11.4 tokens on average (median 6.5, 1 of 30 hit the limit). At 1.0 none
# of 20 ended within 48 tokens; their logits say 2.5 would give about 18 and 3.5 about 8.
NEWLINE_SCALE = 3.0

WEIGHT_STD = 0.02  # the usual initializer range: activations stay finite through 24 layers
# Large query and key biases (Qwen2's trained key biases are large too): RoPE turns a fixed
# bias into a score that depends on the relative position alone, so each head attends
# sharply to its own earlier offsets and every step reads different tokens. With small
# ones attention is uniform, the next token is a function of the current one, and greedy
# falls into short loops ("ounce ounce ounce") that never write a newline.
QK_BIAS_STD = 4.0


def default_path() -> Path:
    return model_dir() / DEFAULT_FILENAME


@dataclass(frozen=True)
class _Tokenizer:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    bos: int
    eos: int
    unknown: int | None
    padding: int | None


def _read_tokenizer(path: Path) -> _Tokenizer:
    reader = gguf.GGUFReader(path)

    def field(key: str) -> object:
        found = reader.get_field(key)
        if found is None:
            raise ValueError(f"{path} has no {key}")
        return found.contents()

    def optional_id(key: str) -> int | None:
        found = reader.get_field(key)
        return None if found is None else int(found.contents())

    model = field(gguf.Keys.Tokenizer.MODEL)
    if model != "gpt2":
        raise ValueError(f"{path}: expected a GPT-2-style BPE tokenizer, got {model!r}")
    tokens = field(gguf.Keys.Tokenizer.LIST)
    types = field(gguf.Keys.Tokenizer.TOKEN_TYPE)
    merges = field(gguf.Keys.Tokenizer.MERGES)
    assert isinstance(tokens, list) and isinstance(types, list) and isinstance(merges, list)
    bos, eos = optional_id(gguf.Keys.Tokenizer.BOS_ID), optional_id(gguf.Keys.Tokenizer.EOS_ID)
    if bos is None or eos is None:
        raise ValueError(f"{path} has no BOS or EOS token id")
    return _Tokenizer(
        tokens=[str(t) for t in tokens],
        types=[int(t) for t in types],
        merges=[str(m) for m in merges],
        pre=str(field(gguf.Keys.Tokenizer.PRE)),
        bos=bos,
        eos=eos,
        unknown=optional_id(gguf.Keys.Tokenizer.UNK_ID),
        padding=optional_id(gguf.Keys.Tokenizer.PAD_ID),
    )


def _padded_vocabulary(tok: _Tokenizer, size: int) -> tuple[list[str], list[int]]:
    """SmolLM2's tokens, then Qwen's special tokens, then unused tokens up to `size`."""
    taken = set(tok.tokens)
    clash = [t for t in QWEN_SPECIAL_TOKENS if t in taken]
    if clash:
        raise ValueError(f"the tokenizer already has {clash}")
    tokens = [*tok.tokens, *QWEN_SPECIAL_TOKENS]
    types = [*tok.types, *[gguf.TokenType.CONTROL] * len(QWEN_SPECIAL_TOKENS)]
    if len(tokens) > size:
        raise ValueError(f"vocabulary of {size} is smaller than the tokenizer's {len(tokens)}")
    # UNUSED, not CONTROL: llama.cpp matches every control token against prompt text when
    # it tokenizes specials, which 100k of them would make slow. Qwen's own padding rows
    # are written the same way by llama.cpp's converter.
    padding = size - len(tokens)
    tokens += [f"<|unused_{i}|>" for i in range(padding)]
    types += [gguf.TokenType.UNUSED] * padding
    return tokens, [int(t) for t in types]


def _embedding(rng: np.random.Generator, shape: ModelShape, real_tokens: int,
               newline: int, newline_scale: float) -> np.ndarray:
    """Random rows for the tokenizer's and the special tokens, zeros for the padding.

    The embedding is also the output matrix (tied): a zero row's logit is 0 and always
    below the best random one, so greedy never picks padding (whose text is empty), as a
    trained model never does. The matrix is dense Q8_0 either way, so zeros cost as much.
    """
    table = np.zeros((shape.vocab, shape.hidden), dtype=np.float32)
    table[:real_tokens] = rng.standard_normal((real_tokens, shape.hidden), dtype=np.float32)
    table[:real_tokens] *= WEIGHT_STD
    table[newline] *= newline_scale
    return table


def write_shaped_gguf(out: Path, tokenizer_gguf: Path, seed: int = 0,
                      shape: ModelShape = QWEN25_CODER_05B,
                      newline_scale: float = NEWLINE_SCALE) -> Path:
    """Write a qwen2 GGUF of `shape` with seeded random Q8_0 weights (norms and biases F32)
    and the tokenizer of `tokenizer_gguf`; the same arguments write the same bytes."""
    tok = _read_tokenizer(tokenizer_gguf)
    tokens, types = _padded_vocabulary(tok, shape.vocab)
    if NEWLINE not in tok.tokens:
        raise ValueError(f"{tokenizer_gguf} has no single token for a newline")
    rng = np.random.default_rng(seed)
    q8 = gguf.GGMLQuantizationType.Q8_0
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: an interrupted run leaves no file that looks
    # like a model.
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(partial, "qwen2")

    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(f"{shape.name} (random weights, seed {seed})")
    writer.add_description(f"Random weights in the shape {shape.name}, for speed benchmarks "
                           f"only; tokenizer borrowed from {tokenizer_gguf.name}")
    writer.add_block_count(shape.layers)
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tok.pre)  # the pre-tokenizer the merges were learnt with
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(tok.merges)
    writer.add_bos_token_id(tok.bos)
    writer.add_eos_token_id(tok.eos)
    if tok.unknown is not None:
        writer.add_unk_token_id(tok.unknown)
    if tok.padding is not None:
        writer.add_pad_token_id(tok.padding)
    writer.add_add_bos_token(False)  # Qwen2.5-Coder's base models prompt without BOS

    def weight(rows: int, cols: int) -> np.ndarray:
        return gguf.quants.quantize(
            rng.standard_normal((rows, cols), dtype=np.float32) * WEIGHT_STD, q8)

    def bias(size: int, std: float = WEIGHT_STD) -> np.ndarray:
        return rng.standard_normal(size, dtype=np.float32) * std

    ones = np.ones(shape.hidden, dtype=np.float32)
    real_tokens = len(tok.tokens) + len(QWEN_SPECIAL_TOKENS)
    embedding = _embedding(rng, shape, real_tokens, tok.tokens.index(NEWLINE), newline_scale)
    # No output.weight: llama.cpp computes the logits with the tied token embedding.
    writer.add_tensor("token_embd.weight", gguf.quants.quantize(embedding, q8), raw_dtype=q8)
    del embedding
    kv = shape.kv_heads * shape.head_dim
    for i in range(shape.layers):
        blk = f"blk.{i}"
        # numpy shapes are (out, in); the writer reverses them into ggml's order.
        writer.add_tensor(f"{blk}.attn_norm.weight", ones)
        writer.add_tensor(f"{blk}.attn_q.weight", weight(shape.hidden, shape.hidden), raw_dtype=q8)
        writer.add_tensor(f"{blk}.attn_q.bias", bias(shape.hidden, QK_BIAS_STD))
        writer.add_tensor(f"{blk}.attn_k.weight", weight(kv, shape.hidden), raw_dtype=q8)
        writer.add_tensor(f"{blk}.attn_k.bias", bias(kv, QK_BIAS_STD))
        writer.add_tensor(f"{blk}.attn_v.weight", weight(kv, shape.hidden), raw_dtype=q8)
        writer.add_tensor(f"{blk}.attn_v.bias", bias(kv))
        writer.add_tensor(f"{blk}.attn_output.weight", weight(shape.hidden, shape.hidden),
                          raw_dtype=q8)
        writer.add_tensor(f"{blk}.ffn_norm.weight", ones)
        writer.add_tensor(f"{blk}.ffn_gate.weight", weight(shape.ffn, shape.hidden), raw_dtype=q8)
        writer.add_tensor(f"{blk}.ffn_up.weight", weight(shape.ffn, shape.hidden), raw_dtype=q8)
        writer.add_tensor(f"{blk}.ffn_down.weight", weight(shape.hidden, shape.ffn), raw_dtype=q8)
    writer.add_tensor("output_norm.weight", ones)

    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return out
