"""Fill-in-the-middle templates of the code model families, and their detection from a GGUF.

A template says how to lay out prefix and suffix so the model writes the middle, which
tokens end the middle, and (where the family has one) the repository-level layout with
file separators. Detection looks at the GGUF's metadata and vocabulary, so any local GGUF
of a known family gets its template without configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FimTemplate:
    family: str
    prefix_token: str
    suffix_token: str
    middle_token: str
    stop_tokens: tuple[str, ...]
    file_sep: str | None = None
    repo_name: str | None = None
    # CodeLlama puts spaces around its markers; the others glue them to the text.
    spaced: bool = False

    def parts(self, prefix: str, suffix: str) -> tuple[tuple[str, bool], ...]:
        """Prefix-suffix-middle order, the one every family here was trained on, as
        (text, is_special) parts: markers are special tokens, code never is.

        The cursor's line so far goes after the middle marker, as the middle's start (the
        hole begins at the line start, a split the models saw in training). Typing on a
        line then changes only the prompt's tail, and llama.cpp keeps the KV cache of the
        prefix and of the suffix; otherwise every key re-evaluates the whole suffix, which
        follows the changed text (llama.vim lays out its requests the same way). CodeLlama,
        whose markers take spaces around them, keeps the plain order."""
        if self.spaced:
            return (
                (self.prefix_token, True), (f" {prefix} ", False),
                (self.suffix_token, True), (f"{suffix} ", False),
                (self.middle_token, True),
            )
        line_start = prefix.rfind("\n") + 1
        return (
            (self.prefix_token, True), (prefix[:line_start], False),
            (self.suffix_token, True), (suffix, False),
            (self.middle_token, True), (prefix[line_start:], False),
        )

    @property
    def marker_tokens(self) -> tuple[str, ...]:
        return (self.prefix_token, self.suffix_token, self.middle_token)


TEMPLATES: dict[str, FimTemplate] = {
    "qwen": FimTemplate(
        family="qwen",
        prefix_token="<|fim_prefix|>",
        suffix_token="<|fim_suffix|>",
        middle_token="<|fim_middle|>",
        stop_tokens=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>",
                     "<|im_start|>"),
        file_sep="<|file_sep|>",
        repo_name="<|repo_name|>",
    ),
    "codegemma": FimTemplate(
        family="codegemma",
        prefix_token="<|fim_prefix|>",
        suffix_token="<|fim_suffix|>",
        middle_token="<|fim_middle|>",
        stop_tokens=("<|file_separator|>", "<eos>", "<end_of_turn>"),
        file_sep="<|file_separator|>",
    ),
    "starcoder": FimTemplate(
        family="starcoder",
        prefix_token="<fim_prefix>",
        suffix_token="<fim_suffix>",
        middle_token="<fim_middle>",
        stop_tokens=("<|endoftext|>", "<file_sep>", "<fim_pad>"),
        file_sep="<file_sep>",
        repo_name="<repo_name>",
    ),
    "deepseek": FimTemplate(
        family="deepseek",
        prefix_token="<｜fim▁begin｜>",
        suffix_token="<｜fim▁hole｜>",
        middle_token="<｜fim▁end｜>",
        stop_tokens=("<｜end▁of▁sentence｜>", "<|EOT|>"),
    ),
    "codellama": FimTemplate(
        family="codellama",
        prefix_token="<PRE>",
        suffix_token="<SUF>",
        middle_token="<MID>",
        stop_tokens=("<EOT>", "</s>"),
        spaced=True,
    ),
}


@dataclass(frozen=True)
class RepoLayout:
    """The repository-level layout a model was trained on: a repository name, then files,
    each behind a separator and its path (StarCoder2, Qwen2.5-Coder). Context goes in as
    the code of other files, not as comments."""

    file_sep: str
    repo_name: str | None = None

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.file_sep, self.repo_name) if self.repo_name else (self.file_sep,)


LAYOUTS = (RepoLayout("<|file_sep|>", "<|repo_name|>"), RepoLayout("<file_sep>", "<repo_name>"))


def repo_layout(fim: FimTemplate | None,
                has_token: Callable[[str], bool]) -> RepoLayout | None:
    """The model's repository layout: its FIM family's, else one its vocabulary holds."""
    if fim is not None and fim.file_sep and fim.repo_name:
        return RepoLayout(fim.file_sep, fim.repo_name)
    for layout in LAYOUTS:
        if all(has_token(t) for t in layout.tokens):
            return layout
    return None


def template(family: str) -> FimTemplate | None:
    """The template of a family by name; "none" means: known to have no usable FIM."""
    if family == "none":
        return None
    try:
        return TEMPLATES[family]
    except KeyError:
        raise ValueError(
            f"unknown FIM family {family!r}; known: none, {', '.join(TEMPLATES)}"
        ) from None


def detect(metadata: Mapping[str, str], has_token: Callable[[str], bool]) -> FimTemplate | None:
    """The template a GGUF supports, from its metadata and vocabulary; None for prefix-only.

    `has_token(text)` says whether the vocabulary holds `text` as one special token.
    """
    arch = metadata.get("general.architecture", "").lower()
    name = metadata.get("general.name", "").lower()

    def has_all(t: FimTemplate) -> bool:
        return all(has_token(tok) for tok in t.marker_tokens)

    # Gemma and Qwen share the marker tokens; the file separator tells them apart.
    if has_all(TEMPLATES["qwen"]):
        if has_token("<|file_separator|>") or "gemma" in arch:
            return TEMPLATES["codegemma"]
        return TEMPLATES["qwen"]
    for family in ("starcoder", "deepseek"):
        if has_all(TEMPLATES[family]):
            return TEMPLATES[family]
    # CodeLlama's markers are ordinary pieces of its SentencePiece vocabulary ("▁<PRE>").
    codellama = TEMPLATES["codellama"]
    if all(has_token("▁" + tok) or has_token(tok) for tok in codellama.marker_tokens) and (
        "llama" in arch and ("code" in name or metadata.get("tokenizer.ggml.fim_pre_token_id"))
    ):
        return codellama
    return None
