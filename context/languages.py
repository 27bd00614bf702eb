"""Languages: from an LSP languageId or a file name, and their tree-sitter grammars.

Grammars come from the per-language wheels (tree-sitter-python, ...), never downloaded
at run time. A language without a grammar still gets completions, just without syntax.
"""

from __future__ import annotations

import importlib
import os
from functools import cache

from tree_sitter import Language, Parser

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascriptreact",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".rb": "ruby", ".lua": "lua", ".sh": "shellscript", ".md": "markdown",
}

# languageId -> (grammar module, function returning the language capsule)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}


# languageId -> the marker that starts a line comment; "//" for any other language. The
# one table of them: prompts write snippets and the file's path as comments with it, and
# the syntax checks of completion.syntax lex comments by it.
LINE_COMMENTS: dict[str, str] = {
    "python": "#", "ruby": "#", "shellscript": "#", "bash": "#", "sh": "#", "perl": "#",
    "r": "#", "yaml": "#", "toml": "#", "dockerfile": "#", "makefile": "#",
    "lua": "--", "sql": "--", "haskell": "--",
}
DEFAULT_LINE_COMMENT = "//"
# Languages whose strings may also be delimited by backticks (template literals, raw strings,
# command substitution); the others quote with ' and " only.
BACKTICK_STRINGS: frozenset[str] = frozenset(
    {"javascript", "javascriptreact", "typescript", "typescriptreact", "go", "shellscript"}
)


def line_comment(language: str) -> str:
    """The line-comment marker of a languageId."""
    return LINE_COMMENTS.get(language, DEFAULT_LINE_COMMENT)


def string_quotes(language: str) -> str:
    """The characters that open a string literal in a languageId."""
    return "'\"`" if language in BACKTICK_STRINGS else "'\""


def language_for_path(path: str) -> str | None:
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


@cache
def grammar(language: str) -> Language | None:
    """The tree-sitter grammar of a languageId, or None if none is installed."""
    entry = _GRAMMARS.get(language)
    if entry is None:
        return None
    module_name, function = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return Language(getattr(module, function)())


def parser(language: str) -> Parser | None:
    lang = grammar(language)
    return Parser(lang) if lang is not None else None
