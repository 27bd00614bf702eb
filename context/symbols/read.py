"""Reading a file's outline: its grammar, then the reader for its language."""

from __future__ import annotations

from context.languages import parser
from context.symbols.c import CppReader, CReader
from context.symbols.go import GoReader
from context.symbols.java import JavaReader
from context.symbols.javascript import JavaScriptReader
from context.symbols.model import Outline
from context.symbols.python import read_python
from context.symbols.reader import Reader
from context.symbols.rust import RustReader


def outline(text: str, language: str) -> Outline | None:
    """The outline of `text`, or None when `language` has no grammar installed."""
    ts = parser(language)
    if ts is None:
        return None
    source = text.encode("utf-8", errors="surrogatepass")
    root = ts.parse(source).root_node
    result = Outline(language)
    if language == "python":
        read_python(root, source, result, parent=None)
    else:
        spec = _GENERIC.get(language)
        if spec is not None:
            spec.read(root, source, result)
    return result


_GENERIC: dict[str, type[Reader]] = {
    "javascript": JavaScriptReader,
    "javascriptreact": JavaScriptReader,
    "typescript": JavaScriptReader,
    "typescriptreact": JavaScriptReader,
    "go": GoReader,
    "rust": RustReader,
    "java": JavaReader,
    "c": CReader,
    "cpp": CppReader,
}
