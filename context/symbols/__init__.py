"""What a source file defines and imports, read with tree-sitter.

An outline is what retrieval needs of a file without its bodies: each symbol's name,
kind, signature (the header up to the body), first docstring line, span and parent, and
the file's imports. Python is read closely (`python`); other languages through a reader per
grammar family (`reader`, and a module each).
"""

from context.symbols.model import Import, Outline, Symbol
from context.symbols.read import outline

__all__ = ["Import", "Outline", "Symbol", "outline"]
