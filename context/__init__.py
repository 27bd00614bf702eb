"""Repository understanding: languages and grammars, parsing, and (later) the index."""
