"""Retrieval over a real index of a small package: definitions, outline, similar code, edits."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workspace_files import write

from context.edits import RecentEdits
from context.index import WorkspaceIndex
from context.indexer import index_workspace
from context.retrieval import (
    SOURCES,
    RetrievalSettings,
    Retriever,
    fit,
)
from context.retrieval.definitions import _module_files
from context.snippet import ContextQuery, Snippet

UTILS = textwrap.dedent('''\
    """Header utilities."""


    class Header:
        """A header line."""

        def __init__(self, name: str, value: str) -> None:
            self.name = name
            self.value = value

        def render(self) -> str:
            return f"{self.name}: {self.value}"


    def parse_header(line: str, strict: bool = False) -> Header:
        """Parse one header line.

        More words that stay out of the prompt.
        """
        name, _, value = line.partition(":")
        if strict and not value:
            raise ValueError(line)
        return Header(name.strip(), value.strip())
''')
BASE = textwrap.dedent('''\
    """Components."""


    class Component:
        """Something with a name."""

        def __init__(self, name: str, *, enabled: bool = True) -> None:
            """Set the name."""
            self.name = name
            self.enabled = enabled

        def describe(self) -> str:
            return self.name
''')
REPORT = textwrap.dedent('''\
    def make_report(rows: list[str], title: str) -> str:
        """Format rows under a title."""
        return title + "\\n".join(rows)
''')
VENDORED = textwrap.dedent('''\
    def parse_header(data):
        """A vendored copy with the same module path below another folder."""
        return data
''')
IMPORTS = textwrap.dedent("""\
    from .utils import parse_header, Header
    from .base import Component
    import pkg.utils as u
""")
APP = IMPORTS + "\n\ndef main() -> None:\n    pass\n"

# Similar code: the current file has a chunk above the window worth showing, and the
# window's own code has a near-copy in another file.
SERVICE = textwrap.dedent('''\
    """Order scheduling."""


    def load_orders(customer_id, warehouse):
        """The open orders of a customer."""
        orders = warehouse.orders_for(customer_id)
        level = warehouse.inventory_level(orders)
        return [order for order in orders if order.quantity <= level]


    # Above the window: a chunk worth showing.


    def audit_trail(entries):
        return [entry.summary() for entry in entries]


    def unrelated_padding():
        pass


    def more_padding():
        pass


    def schedule_orders(customer_id, warehouse, calendar):
        """Book a slot for each open order."""
        orders = load_orders(customer_id, warehouse)
        slots = calendar.free_slots(warehouse.region)
        for order, slot in zip(orders, slots):
            calendar.book(slot, order.reference)
            warehouse.reserve(order.reference, slot)
        return calendar.summary(customer_id)
''')
RELATED = textwrap.dedent('''\
    def reserve_stock(warehouse, order):
        slot = warehouse.next_slot()
        warehouse.reserve(order.reference, slot)
        return slot
''')


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WorkspaceIndex]:
    root = tmp_path / "ws"
    write(root, "pkg/__init__.py", "")
    write(root, "pkg/utils.py", UTILS)
    write(root, "pkg/base.py", BASE)
    write(root, "pkg/report.py", REPORT)
    write(root, "pkg/app.py", APP)
    write(root, "vendor/pkg/utils.py", VENDORED)
    write(root, "orders/service.py", SERVICE)
    window = SERVICE.split("\n").index("def schedule_orders(customer_id, warehouse, calendar):")
    write(root, "orders/copy.py", "\n".join(SERVICE.split("\n")[window:]))
    write(root, "orders/related.py", RELATED)
    idx = WorkspaceIndex(tmp_path / "cache" / "index.db")
    report = index_workspace(root, idx)
    assert report.indexed == 9
    yield idx
    idx.close()


def query(prefix: str, suffix: str = "\n", path: str = "pkg/app.py", window_start: int = 0,
          language: str = "python") -> ContextQuery:
    return ContextQuery(path, language, prefix, suffix, window_start)


def of(snippets: list[Snippet], source: str, path: str | None = None) -> list[Snippet]:
    return [s for s in snippets if s.source == source and (path is None or s.path == path)]


def one(snippets: list[Snippet], source: str, path: str) -> Snippet:
    found = of(snippets, source, path)
    assert len(found) == 1, snippets
    return found[0]


def lines_of(snippet: Snippet) -> list[str]:
    return snippet.text.split("\n")


# --- definition ------------------------------------------------------------------------------

def test_an_imported_function_gives_its_signature_and_first_doc_line(
        index: WorkspaceIndex) -> None:
    prefix = IMPORTS + "\n\ndef main(lines: list[str]) -> None:\n    first = parse_header("
    found = Retriever(index).retrieve(query(prefix, ")\n"))

    snippet = one(found, "definition", "pkg/utils.py")
    assert snippet.title == "Definitions from pkg/utils.py"
    lines = lines_of(snippet)
    at = lines.index("def parse_header(line: str, strict: bool = False) -> Header:")
    assert lines[at + 1] == '    """Parse one header line."""'
    assert "partition" not in snippet.text  # never the body
    assert "More words" not in snippet.text  # only the docstring's first line
    assert "parse_header: imported from .utils" in snippet.reason
    # `.utils` is pkg/utils.py, not every utils.py below a `pkg` folder.
    assert of(found, "definition", "vendor/pkg/utils.py") == []


def test_a_class_gives_its_header_and_init_signature(index: WorkspaceIndex) -> None:
    prefix = IMPORTS + "\n\ndef main() -> None:\n    h = Header("
    snippet = one(Retriever(index).retrieve(query(prefix)), "definition", "pkg/utils.py")

    lines = lines_of(snippet)
    at = lines.index("class Header:")
    assert lines[at + 1 : at + 4] == [
        '    """A header line."""',
        "    def __init__(self, name: str, value: str) -> None:",
        "    def render(self) -> str:",
    ]
    assert "self.name = name" not in snippet.text
    assert "Header: imported from .utils" in snippet.reason


def test_an_aliased_module_resolves_its_attribute(index: WorkspaceIndex) -> None:
    prefix = "import pkg.utils as u\n\n\ndef main() -> None:\n    h = u.parse_header("
    found = Retriever(index).retrieve(query(prefix))
    snippet = one(found, "definition", "pkg/utils.py")
    assert "def parse_header(line: str, strict: bool = False) -> Header:" in lines_of(snippet)
    assert "u.parse_header: imported module pkg/utils.py" in snippet.reason
    # An absolute import does not say where the package root is: the shortest path first.
    assert of(found, "definition")[0] == snippet


def test_a_one_letter_import_alias_is_looked_up(index: WorkspaceIndex) -> None:
    prefix = "from .utils import parse_header as P\n\n\ndef main() -> None:\n    h = P("
    snippet = one(Retriever(index).retrieve(query(prefix)), "definition", "pkg/utils.py")
    assert "def parse_header(line: str, strict: bool = False) -> Header:" in lines_of(snippet)
    assert "P: imported from .utils" in snippet.reason


def test_a_module_imported_from_its_package(index: WorkspaceIndex) -> None:
    prefix = "from . import report\n\n\ndef main() -> None:\n    text = report.make_report("
    snippet = one(Retriever(index).retrieve(query(prefix)), "definition", "pkg/report.py")
    assert lines_of(snippet) == [
        "def make_report(rows: list[str], title: str) -> str:",
        '    """Format rows under a title."""',
    ]
    assert "report.make_report: imported module pkg/report.py" in snippet.reason


CLASS_DOC = textwrap.dedent("""\
    import os


    class Base:
        def __init__(self, size: int) -> None:
            \"\"\"Make a base.\"\"\"
            self.size = size


    class Cache(Base):
        \"\"\"A cache.\"\"\"

        def evict(self, key: str) -> bool:
            \"\"\"Drop one key.\"\"\"
            return True

        def lookup(self, key: str) -> int:
            return 0

        def put(self, key: str, value: int) -> None:
            self.lookup(key)
            super().__init__(3)
            self.evict(""")
CLASS_SUFFIX = ")\n\n    def after(self) -> None:\n        pass\n"


def class_query(path: str = "pkg/cache.py") -> ContextQuery:
    # The window starts at `lookup`: `evict` and `Base` are above it, `lookup` is in it.
    return query(CLASS_DOC, CLASS_SUFFIX, path=path,
                 window_start=CLASS_DOC.index("    def lookup"))


@pytest.mark.parametrize("with_index", [True, False])
def test_self_and_super_resolve_in_the_file(index: WorkspaceIndex, with_index: bool) -> None:
    retriever = Retriever(index if with_index else None)
    found = retriever.retrieve(class_query())
    snippet = one(found, "definition", "pkg/cache.py")
    assert snippet.title == "Definitions in this file"
    lines = lines_of(snippet)

    # `self.evict(`: the member outside the window, with its doc.
    at = lines.index("def evict(self, key: str) -> bool:")
    assert lines[at + 1] == '    """Drop one key."""'
    assert "self.evict: member of Cache" in snippet.reason
    # `self.lookup(` is in the window already: not repeated.
    assert "def lookup(self, key: str) -> int:" not in snippet.text
    assert "lookup" not in snippet.reason
    # `super().__init__(`: the base class's method.
    assert "def __init__(self, size: int) -> None:" in lines
    assert "Base.__init__: member" in snippet.reason


def test_super_resolves_through_an_imported_base(index: WorkspaceIndex) -> None:
    prefix = IMPORTS + textwrap.dedent("""\


        class Widget(Component):
            def __init__(self, name: str) -> None:
                super().__init__(""")
    snippet = one(Retriever(index).retrieve(query(prefix)), "definition", "pkg/base.py")
    assert "def __init__(self, name: str, *, enabled: bool = True) -> None:" in lines_of(snippet)
    assert "Component.__init__: member" in snippet.reason
    assert "self.name = name" not in snippet.text


UNBOUND = "def build(rows):\n    return make_report("


@pytest.mark.parametrize("body", [
    "    make_report = pick_reporter()\n    return make_report(",
    "    make_report: Callable[[str], str] = pick_reporter()\n    return make_report(",
    "    for make_report in reporters:\n        make_report(",
    "    with open_reporter() as make_report:\n        make_report(",
])
def test_locally_bound_names_are_not_looked_up(index: WorkspaceIndex, body: str) -> None:
    retriever = Retriever(index)
    # Not imported, not bound: the one definition in the workspace is worth showing.
    control = one(retriever.retrieve(query(UNBOUND, path="pkg/cli.py")), "definition",
                  "pkg/report.py")
    assert "make_report: the only definition in the workspace" in control.reason

    found = retriever.retrieve(query("def build(rows):\n" + body, path="pkg/cli.py"))
    assert of(found, "definition", "pkg/report.py") == []


def test_a_plain_lowercase_name_is_not_looked_up(index: WorkspaceIndex) -> None:
    # Neither called nor capitalized: too likely another thing of the same name.
    found = Retriever(index).retrieve(query("def build(rows):\n    x = make_report + ",
                                            path="pkg/cli.py"))
    assert of(found, "definition") == []
    # A capitalized name is looked up even when it is not called.
    found = Retriever(index).retrieve(query("def build(rows):\n    x: Header = ",
                                            path="pkg/cli.py"))
    assert "Header: the only definition in the workspace" in one(
        found, "definition", "pkg/utils.py").reason


def test_a_name_defined_in_many_places_is_not_guessed(index: WorkspaceIndex) -> None:
    # Not imported here: two definitions in the workspace are both shown...
    unimported = query("def build(rows):\n    return parse_header(", path="pkg/cli.py")
    found = of(Retriever(index).retrieve(unimported), "definition")
    assert {s.path for s in found} == {"pkg/utils.py", "vendor/pkg/utils.py"}
    assert all("the only definition" in s.reason for s in found)
    # ... a third makes the name too common to guess.
    index.update_file("other/utils.py", VENDORED, "python")
    assert of(Retriever(index).retrieve(unimported), "definition") == []


# --- outline ---------------------------------------------------------------------------------

SERVICE_CLASS = IMPORTS + textwrap.dedent("""\


    class Service:
        \"\"\"Runs things.\"\"\"

        limit = 10

        def start(self) -> None:
            pass

        def stop(self, force: bool = False) -> None:
            pass

        def restart(self) -> None:
            self.stop()
            """)
SERVICE_SUFFIX = "\n\n    def status(self) -> str:\n        return 'ok'\n"


def test_outline_gives_cut_off_imports_and_other_members(index: WorkspaceIndex) -> None:
    window_start = SERVICE_CLASS.index("    def restart")
    found = Retriever(index).retrieve(query(SERVICE_CLASS, SERVICE_SUFFIX,
                                            path="pkg/service.py", window_start=window_start))
    outline = of(found, "outline")
    assert [s.title for s in outline] == ["Other members of Service in this file",
                                          "Imports of this file"]
    members, imports = outline
    assert lines_of(members) == [
        "class Service:",
        "    limit = 10",
        "    def start(self) -> None:",
        "    def stop(self, force: bool = False) -> None:",
        "    def status(self) -> str:",
    ]  # not `restart`, where the cursor is
    assert imports.text == IMPORTS.rstrip("\n")
    assert all(s.path == "pkg/service.py" for s in outline)


def test_outline_leaves_out_what_the_window_shows(index: WorkspaceIndex) -> None:
    found = Retriever(index).retrieve(query(SERVICE_CLASS, SERVICE_SUFFIX,
                                            path="pkg/service.py", window_start=0))
    outline = of(found, "outline")
    assert [s.title for s in outline] == ["Other members of Service in this file"]
    # Only the member below the cursor is out of the window.
    assert lines_of(outline[0]) == ["class Service:", "    def status(self) -> str:"]


def test_outline_outside_a_class_has_only_the_imports(index: WorkspaceIndex) -> None:
    prefix = IMPORTS + "\n\ndef main() -> None:\n    x = "
    found = Retriever(index).retrieve(query(prefix, window_start=prefix.index("def main")))
    assert [(s.title, s.text) for s in of(found, "outline")] == [
        ("Imports of this file", IMPORTS.rstrip("\n"))]


# --- similar ---------------------------------------------------------------------------------

def service_query() -> ContextQuery:
    cursor = SERVICE.index("    return calendar.summary") + len("    return calendar.")
    return query(SERVICE[:cursor], SERVICE[cursor:], path="orders/service.py",
                 window_start=SERVICE.index("def schedule_orders"))


def above_window() -> str:
    """The current file's lines above the window, blank lines dropped as in snippets."""
    text = SERVICE[: service_query().window_start]
    return "\n".join(line for line in text.split("\n") if line.strip())


def test_similar_never_shows_the_window_of_the_current_file(index: WorkspaceIndex) -> None:
    # No eviction, no floor: only the window rule keeps the current file's code out.
    settings = RetrievalSettings(max_similar=10, evict_similarity=2.0, min_similarity=0.0)
    found = of(Retriever(index, settings).retrieve(service_query()), "similar")

    own = [s for s in found if s.path == "orders/service.py"]
    assert own, "the chunks above the window are fair game"
    for snippet in own:
        assert snippet.text in above_window()
    assert "orders/copy.py" in {s.path for s in found}  # another file is not the window
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_similar_evicts_near_copies_of_the_cursor_area(index: WorkspaceIndex) -> None:
    found = of(Retriever(index, RetrievalSettings(max_similar=10)).retrieve(service_query()),
               "similar")
    paths = [s.path for s in found]
    assert "orders/copy.py" not in paths  # the code being written, elsewhere: it would be copied
    assert "orders/related.py" in paths
    assert all(0.08 <= s.score < 0.75 for s in found)
    assert all(s.title == "" and s.heading == f"Compare this snippet from {s.path}"
               for s in found)
    assert all("Jaccard" in s.reason for s in found)


def test_similar_keeps_one_of_overlapping_chunks_and_the_limit(index: WorkspaceIndex) -> None:
    found = of(Retriever(index).retrieve(service_query()), "similar")
    assert len(found) == RetrievalSettings().max_similar
    own = [s for s in found if s.path == "orders/service.py"]
    assert len(own) <= 1  # the best of the overlapping windows of one place


def test_similar_without_identifiers_before_the_cursor(index: WorkspaceIndex) -> None:
    assert of(Retriever(index).retrieve(query("\n\n", path="pkg/new.py")), "similar") == []


# --- edit ------------------------------------------------------------------------------------

def test_edits_of_other_files_and_above_the_window(index: WorkspaceIndex) -> None:
    edits = RecentEdits()
    other = "def helper():\n    value = compute()\n    return value\n"
    edits.record("pkg/other.py", other, 1, 1)
    window_start = SERVICE_CLASS.index("    def restart")
    window_line = SERVICE_CLASS.count("\n", 0, window_start)
    doc = SERVICE_CLASS + SERVICE_SUFFIX
    limit_line = doc.split("\n").index("    limit = 10")
    edits.record("pkg/service.py", doc, limit_line, limit_line)  # above the window
    edits.record("pkg/service.py", doc, window_line + 1, window_line + 1)  # in the window
    edits.record("pkg/service.py", doc, doc.count("\n") - 1, doc.count("\n") - 1)  # below

    found = of(Retriever(index, edits=edits).retrieve(
        query(SERVICE_CLASS, SERVICE_SUFFIX, path="pkg/service.py", window_start=window_start)),
        "edit")
    assert [(s.path, s.reason) for s in found] == [
        ("pkg/service.py", f"edited lines {limit_line}-{limit_line + 2}"),
        ("pkg/other.py", "edited lines 1-3"),
    ]
    assert found[0].title == "Recently edited in pkg/service.py"
    assert "limit = 10" in found[0].text
    assert found[1].text == other.rstrip("\n")


def test_edits_are_redacted_and_limited(index: WorkspaceIndex) -> None:
    edits = RecentEdits()
    secret = "AKIA" + "IOSFODNN7EXAMPLE"
    for i in range(5):
        edits.record(f"pkg/f{i}.py", f"def f{i}():\n    key = '{secret}'\n    return {i}\n", 1, 1)
    found = of(Retriever(index, edits=edits).retrieve(query("x = 1\n", path="pkg/app.py")),
               "edit")
    assert [s.path for s in found] == ["pkg/f4.py", "pkg/f3.py", "pkg/f2.py"]
    assert all(secret not in s.text and "return" in s.text for s in found)


# --- the whole --------------------------------------------------------------------------------

def test_retrieve_keeps_prompt_order_and_enabled_sources(index: WorkspaceIndex) -> None:
    edits = RecentEdits()
    edits.record("pkg/other.py", "def helper():\n    return schedule_orders()\n", 1, 1)
    found = Retriever(index, edits=edits).retrieve(service_query())
    sources = [s.source for s in found]
    assert {"definition", "edit", "similar"} <= set(sources)
    assert sources == sorted(sources, key=SOURCES.index)
    assert "load_orders: defined in this file" in one(found, "definition",
                                                      "orders/service.py").reason

    only = Retriever(index, RetrievalSettings(sources=("similar",)), edits=edits)
    assert {s.source for s in only.retrieve(service_query())} == {"similar"}


def test_without_an_index_the_open_file_still_gives_context() -> None:
    retriever = Retriever(None)
    found = retriever.retrieve(class_query())
    sources = {s.source for s in found}
    assert {"outline", "definition"} <= sources
    assert not sources & {"similar", "edit"}
    assert all(s.path == "pkg/cache.py" for s in found)
    # Imports cannot be resolved without an index, and that is no error.
    prefix = IMPORTS + "\n\ndef main() -> None:\n    h = Header("
    found = retriever.retrieve(query(prefix, window_start=prefix.index("def main")))
    assert of(found, "definition") == []
    assert [s.title for s in of(found, "outline")] == ["Imports of this file"]


@pytest.mark.parametrize("with_index", [True, False])
def test_a_language_without_grammar_does_not_crash(index: WorkspaceIndex,
                                                   with_index: bool) -> None:
    retriever = Retriever(index if with_index else None)
    prefix = "require 'json'\n\nclass Thing\n  def run\n    header = Header.new(name)\n    "
    found = retriever.retrieve(query(prefix, "\n  end\nend\n", path="lib/thing.rb",
                                     language="ruby"))
    assert of(found, "outline") == []
    assert all(s.source in SOURCES for s in found)
    chosen = retriever.snippets(query(prefix, path="lib/thing.rb", language="ruby"), 200,
                                count_words)
    assert sum(least_cost(s) for s in chosen) <= 200


def test_snippets_fit_the_budget(index: WorkspaceIndex) -> None:
    settings = RetrievalSettings(max_similar=10)
    retriever = Retriever(index, settings)
    everything = retriever.retrieve(service_query())
    assert len(everything) >= 3
    sizes = []
    for budget in (0, 10, 40, 80, 400):
        chosen = retriever.snippets(service_query(), budget, count_words)
        check_fitted(everything, chosen, budget, settings.shares)
        sizes.append(sum(least_cost(s) for s in chosen))
    assert sizes[0] == 0
    assert sizes == sorted(sizes) and sizes[-1] > sizes[1]


# --- fit -------------------------------------------------------------------------------------

def count_words(text: str) -> int:
    return len(text.split())


def least_cost(snippet: Snippet) -> int:
    """A floor under what `fit` charges for a snippet: the tokens of its heading and text."""
    return count_words(snippet.heading) + count_words(snippet.text)


def key(snippet: Snippet) -> tuple[str, str, str, str, float]:
    return snippet.path, snippet.source, snippet.title, snippet.reason, snippet.score


def check_fitted(original: list[Snippet], chosen: list[Snippet], budget: int,
                 shares: dict[str, float]) -> None:
    """Prompt order, each one its original or its first lines, within budget and shares."""
    positions = []
    for snippet in chosen:
        candidates = [i for i, o in enumerate(original) if key(o) == key(snippet)
                      and i not in positions]
        assert candidates, snippet
        position = candidates[0]
        positions.append(position)
        whole = original[position].text.split("\n")
        kept = snippet.text.split("\n")
        assert kept == whole[: len(kept)]
        assert len(kept) >= min(2, len(whole))
    assert positions == sorted(positions)
    assert sum(least_cost(s) for s in chosen) <= max(budget, 0)
    for source in {s.source for s in chosen}:
        cap = int(budget * shares.get(source, 1.0))
        assert sum(least_cost(s) for s in chosen if s.source == source) <= cap


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def snippet(source: str, n: int, name: str, lines: int = 1) -> Snippet:
    """A heading of one word (the title) and `lines` lines of `n` words."""
    return Snippet(f"{name}.py", "\n".join([words(n)] * lines), source=source, title=name)


SHARES = {"definition": 0.5, "outline": 0.35, "similar": 0.6, "edit": 0.3}


def test_fit_takes_sources_by_priority_and_keeps_prompt_order() -> None:
    snippets = [snippet("similar", 15, "s"), snippet("edit", 15, "e"),
                snippet("outline", 15, "o"), snippet("definition", 15, "d")]
    shares = dict.fromkeys(SOURCES, 1.0)
    # About 20 tokens each: what the budget lets in goes by priority, out in prompt order.
    for budget, kept in [(22, ["d"]), (44, ["o", "d"]), (66, ["s", "o", "d"]),
                         (88, ["s", "e", "o", "d"])]:
        chosen = fit(snippets, budget, count_words, shares)
        assert [s.title for s in chosen] == kept
        check_fitted(snippets, chosen, budget, shares)


def test_fit_caps_each_source_at_its_share() -> None:
    snippets = [snippet("similar", 13, f"s{i}") for i in range(5)]  # about 20 tokens each
    chosen = fit(snippets, 100, count_words, SHARES)  # similar may take 60
    assert [s.title for s in chosen] == ["s0", "s1", "s2"]
    chosen = fit(snippets, 100, count_words, {**SHARES, "similar": 0.2})
    assert [s.title for s in chosen] == ["s0"]
    # One line larger than its share is left out; a smaller one after it still fits.
    mixed = [snippet("definition", 60, "big"), snippet("definition", 10, "small")]
    assert [s.title for s in fit(mixed, 100, count_words, SHARES)] == ["small"]


def test_fit_cuts_a_long_snippet_to_its_first_lines() -> None:
    long = snippet("definition", 5, "d", lines=10)  # about 60 tokens
    chosen = fit([long], 40, count_words, {"definition": 1.0})
    assert len(chosen) == 1
    kept = chosen[0].text.split("\n")
    assert 2 <= len(kept) < 10
    check_fitted([long], chosen, 40, {"definition": 1.0})
    # Not even two lines: left out rather than cut to a stub.
    assert fit([long], 12, count_words, {"definition": 1.0}) == []


def test_fit_edge_cases() -> None:
    snippets = [snippet("definition", 5, "d"), snippet("custom", 5, "c")]
    assert fit(snippets, 0, count_words, SHARES) == []
    assert fit(snippets, -5, count_words, SHARES) == []
    assert fit([], 100, count_words, SHARES) == []
    # A source without a share may take the whole budget, after the known ones.
    assert [s.title for s in fit(snippets, 30, count_words, {})] == ["d", "c"]
    assert [s.title for s in fit(snippets, 15, count_words, {})] == ["d"]


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(st.tuples(st.sampled_from([*SOURCES, "custom"]),
                                st.lists(st.integers(0, 12), min_size=1, max_size=6)),
                      max_size=8),
       budget=st.integers(-5, 300),
       shares=st.dictionaries(st.sampled_from(SOURCES), st.floats(0.0, 1.0)))
def test_fit_invariants(specs: list[tuple[str, list[int]]], budget: int,
                        shares: dict[str, float]) -> None:
    snippets = [Snippet(f"f{i}.py", "\n".join(words(n) for n in line_words), source=source,
                        title=f"t{i}")
                for i, (source, line_words) in enumerate(specs)]
    chosen = fit(snippets, budget, count_words, shares)
    check_fitted(snippets, chosen, budget, shares)
    if budget <= 0:
        assert chosen == []


# --- module resolution ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "module", "expected"), [
    ("pkg/app.py", ".utils", ["pkg/utils.py", "pkg/utils/__init__.py"]),
    ("pkg/app.py", ".sub.mod", ["pkg/sub/mod.py", "pkg/sub/mod/__init__.py"]),
    ("pkg/app.py", ".", ["pkg/__init__.py"]),
    ("pkg/sub/app.py", "..", ["pkg/__init__.py"]),
    ("a/b/c.py", "..pkg.mod", ["a/pkg/mod.py", "a/pkg/mod/__init__.py"]),
    ("a/b/c.py", "...top", ["top.py", "top/__init__.py"]),
    ("app.py", ".utils", ["utils.py", "utils/__init__.py"]),
    ("app.py", ".", ["__init__.py"]),
    ("app.py", "pkg.utils", ["*/pkg/utils.py", "*/pkg/utils/__init__.py"]),
    ("deep/x/app.py", "os", ["*/os.py", "*/os/__init__.py"]),
    ("src/lib.rs", "crate::parser", ["*/crate/parser.py", "*/crate/parser/__init__.py"]),
    ("app.py", "", []),
])
def test_module_files(path: str, module: str, expected: list[str]) -> None:
    assert _module_files(path, module) == expected


# --- suffix ----------------------------------------------------------------------------------

def test_suffix_gives_the_lines_below_the_cursor_to_prefix_only_models(
        index: WorkspaceIndex) -> None:
    prefix = "def main():\n    total = compute("
    suffix = ")\n\n    report(total, verbose=True)\n    return total\n"
    found = of(Retriever(index).retrieve(query(prefix, suffix)), "suffix")
    assert [s.text for s in found] == ["    report(total, verbose=True)\n    return total"]
    fim = ContextQuery("pkg/app.py", "python", prefix, suffix, 0, suffix_in_prompt=True)
    assert of(Retriever(index).retrieve(fim), "suffix") == []  # its prompt has the suffix


def test_outline_names_the_instance_attributes_and_other_definitions(
        index: WorkspaceIndex) -> None:
    source = textwrap.dedent('''\
        def helper(value):
            return value


        class Cache:
            def __init__(self, size):
                self.size = size
                self.entries = {}

            def get(self, key):
                found = ''')
    window_start = source.index("    def get")
    outline = of(Retriever(index).retrieve(query(source, "\n", path="pkg/cache.py",
                                                 window_start=window_start)), "outline")
    members, others = outline
    assert lines_of(members)[-1] == "    # attributes: self.size, self.entries"
    assert "    def __init__(self, size):" in lines_of(members)
    assert others.title == "Other definitions in this file"
    assert lines_of(others) == ["def helper(value):"]
