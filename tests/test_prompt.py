"""Prompt layout: token budgets, stable windows, FIM parts."""

from __future__ import annotations

from completion.prompt import PromptBudget, build_prompt, prefix_window
from context.snippet import Snippet
from models.fim import TEMPLATES, RepoLayout


def count(text: str) -> int:
    return len(text) // 4 + 1  # a stand-in tokenizer: the point here is the budget logic


def test_prefix_window_fits_the_budget_and_starts_at_a_line() -> None:
    prefix = "".join(f"line_{i} = {i}\n" for i in range(2000))
    window = prefix_window(prefix, 200, count)
    assert count(window) <= 200
    assert prefix.endswith(window)
    assert prefix[len(prefix) - len(window) - 1] == "\n"


def test_prefix_window_start_is_stable_while_typing() -> None:
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(3000))
    starts = set()
    for typed in range(1, 60):
        text = prefix + "x" * typed
        window = prefix_window(text, 300, count)
        starts.add(len(text) - len(window))
    assert len(starts) == 1  # typing 60 characters did not move the window's start


def test_small_prefix_is_whole() -> None:
    assert prefix_window("import os\n", 100, count) == "import os\n"


def test_prefix_only_prompt_has_header_and_no_suffix() -> None:
    prompt = build_prompt(prefix="x = ", suffix="\nSECRET_SUFFIX", path="pkg/a.py",
                          language="python", fim=None, budget=PromptBudget(), count=count)
    assert prompt.text == "# pkg/a.py\nx = "
    assert all(not special for _, special in prompt.parts)


def test_fim_prompt_marks_only_markers_special() -> None:
    prompt = build_prompt(prefix="x = ", suffix="\ny = 2\n", path="a.go", language="go",
                          fim=TEMPLATES["starcoder"], budget=PromptBudget(), count=count)
    assert prompt.text == "<fim_prefix>// a.go\n<fim_suffix>\ny = 2\n<fim_middle>x = "
    assert [s for _, s in prompt.parts] == [True, False, True, False, True, False]


def test_repository_layout_puts_context_in_files_of_their_own() -> None:
    snippets = [Snippet("pkg/utils.py", "def parse(line):", source="definition",
                        title="Definitions from pkg/utils.py")]
    layout = RepoLayout("<file_sep>", "<repo_name>")
    prompt = build_prompt(prefix="x = parse(", suffix="", path="pkg/app.py", language="python",
                          fim=None, budget=PromptBudget(), count=count, snippets=snippets,
                          layout=layout, repo="demo")
    assert prompt.text == ("<repo_name>demo\n<file_sep>pkg/utils.py\ndef parse(line):\n"
                           "<file_sep>pkg/app.py\nx = parse(")
    # The markers are special tokens; code, paths and the repository name never are.
    assert [special for _, special in prompt.parts] == [True, False, True, False, True, False]


def test_without_a_layout_snippets_are_comments_before_the_header() -> None:
    snippets = [Snippet("pkg/utils.py", "def parse(line):", source="definition",
                        title="Definitions from pkg/utils.py")]
    prompt = build_prompt(prefix="x = ", suffix="", path="pkg/app.py", language="python",
                          fim=None, budget=PromptBudget(), count=count, snippets=snippets)
    assert prompt.text == ("# Definitions from pkg/utils.py:\n# def parse(line):\n"
                           "# pkg/app.py\nx = ")


def test_the_file_window_is_counted_as_the_prompt_will_hold_it() -> None:
    # The back end remembers what it counted: counting the header and window as the one
    # text the prompt holds lets it skip tokenizing them again.
    counted: list[str] = []

    def recording(text: str) -> int:
        counted.append(text)
        return count(text)

    prefix = "".join(f"line_{i} = {i}\n" for i in range(2000))
    prompt = build_prompt(prefix=prefix, suffix="", path="pkg/a.py", language="python",
                          fim=None, budget=PromptBudget(prefix_tokens=300), count=recording)
    (part, _), = prompt.parts
    assert part.startswith("# pkg/a.py\n") and prefix.endswith(part.split("\n", 1)[1])
    assert part in counted and count(part) <= 300
