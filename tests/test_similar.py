"""Jaccard snippets: the most similar windows of other files, within the budget."""

from __future__ import annotations

from context.similar import SimilarCode, identifiers
from context.snippet import ContextQuery


def count(text: str) -> int:
    return len(text) // 4 + 1


FILES = {
    "pkg/db.py": "def connect(database_url, timeout):\n    return Engine(database_url, timeout)\n",
    "pkg/render.py": (
        "def render_template(name, context):\n    return Template(name).render(context)\n"
    ),
    "pkg/app.py": "engine = connect(database_url, timeout)\n",
}


def at_app(prefix: str) -> ContextQuery:
    return ContextQuery("pkg/app.py", "python", prefix, "")


def test_identifiers_drop_keywords_and_single_letters() -> None:
    assert identifiers("for x in items: return self.value") == {"items", "value"}


def test_the_most_similar_other_file_comes_first() -> None:
    similar = SimilarCode(FILES, window_lines=4, stride=2)
    prefix = "settings = load()\nengine = connect(database_url, timeout="
    snippets = similar.snippets(at_app(prefix), budget_tokens=200, count=count)
    assert snippets[0].path == "pkg/db.py"
    assert all(s.path != "pkg/app.py" for s in snippets)  # never the file itself
    assert snippets == sorted(snippets, key=lambda s: -s.score)


def test_budget_is_respected() -> None:
    similar = SimilarCode(FILES, window_lines=4, stride=2)
    prefix = "connect(database_url, render_template(name, context))"
    assert similar.snippets(at_app(prefix), budget_tokens=0, count=count) == []
    snippets = similar.snippets(at_app(prefix), budget_tokens=30, count=count)
    assert sum(count(s.text) + 8 for s in snippets) <= 30
