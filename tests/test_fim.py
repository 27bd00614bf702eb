"""FIM templates and their detection from a GGUF's metadata and vocabulary."""

from __future__ import annotations

import pytest

from models import fim
from models.fim import TEMPLATES, RepoLayout, repo_layout


def vocab(*tokens: str) -> set[str]:
    return set(tokens)


@pytest.mark.parametrize(
    ("metadata", "tokens", "family"),
    [
        ({"general.architecture": "qwen2"},
         vocab("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>"), "qwen"),
        ({"general.architecture": "gemma"},
         vocab("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"),
         "codegemma"),
        ({"general.architecture": "starcoder2"},
         vocab("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"), "starcoder"),
        ({"general.architecture": "llama"},
         vocab("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"), "deepseek"),
        ({"general.architecture": "llama", "general.name": "codellama_codellama-7b-hf"},
         vocab("▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"), "codellama"),
    ],
)
def test_detects_each_family(metadata: dict[str, str], tokens: set[str], family: str) -> None:
    detected = fim.detect(metadata, tokens.__contains__)
    assert detected is not None and detected.family == family


def test_a_vocabulary_without_fim_markers_is_prefix_only() -> None:
    # SmolLM2 has <file_sep> but no FIM markers.
    assert fim.detect({"general.architecture": "llama"}, vocab("<file_sep>").__contains__) is None
    # A plain Llama without "code" in its name is not CodeLlama, whatever its pieces.
    assert fim.detect({"general.architecture": "llama", "general.name": "Llama 2"},
                      vocab("▁<PRE>", "▁<SUF>", "▁<MID>").__contains__) is None


def rendered(template: fim.FimTemplate, prefix: str, suffix: str) -> str:
    return "".join(text for text, _ in template.parts(prefix, suffix))


def test_parts_order_prefix_suffix_middle() -> None:
    qwen = fim.TEMPLATES["qwen"]
    assert rendered(qwen, "x = 1\ny = ", "\nb") == (
        "<|fim_prefix|>x = 1\n<|fim_suffix|>\nb<|fim_middle|>y = "
    )
    parts = qwen.parts("code <|fim_middle|>\n", "s")
    # Code is never marked special, even when it contains a marker's text.
    assert parts[1] == ("code <|fim_middle|>\n", False)
    assert [special for _, special in parts] == [True, False, True, False, True, False]
    assert rendered(fim.TEMPLATES["codellama"], "p", "s") == "<PRE> p <SUF>s <MID>"


def test_typing_on_a_line_changes_only_the_tail_after_the_middle_marker() -> None:
    # So the KV cache of prefix and suffix survives each key: only the line so far, after
    # the middle marker, differs between two keystrokes.
    qwen = fim.TEMPLATES["qwen"]
    before = qwen.parts("def f(x):\n    return x", "\n\nprint(f(1))\n")
    after = qwen.parts("def f(x):\n    return x +", "\n\nprint(f(1))\n")
    assert before[:-1] == after[:-1]
    assert (before[-1], after[-1]) == (("    return x", False), ("    return x +", False))
    # At a line start the middle starts empty.
    assert qwen.parts("a = 1\n", "")[-1] == ("", False)


def test_template_by_name() -> None:
    assert fim.template("none") is None
    assert fim.template("starcoder") is fim.TEMPLATES["starcoder"]
    with pytest.raises(ValueError, match="unknown FIM family"):
        fim.template("nope")


def test_repository_layout_from_the_fim_family_or_the_vocabulary() -> None:
    qwen = TEMPLATES["qwen"]
    assert repo_layout(qwen, lambda t: False) == RepoLayout("<|file_sep|>", "<|repo_name|>")
    # SmolLM2: no FIM markers, but StarCoder's repository tokens.
    starcoder_tokens = {"<file_sep>", "<repo_name>"}
    assert repo_layout(None, starcoder_tokens.__contains__) == RepoLayout("<file_sep>",
                                                                          "<repo_name>")
    assert repo_layout(None, lambda t: False) is None
