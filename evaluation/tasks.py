"""Masked-span tasks cut from real files with tree-sitter, as in ExecRepoBench.

Levels: `line_rest` (the rest of a line after a cut point), `line` (a whole line),
`statement`, `expression` (the arguments of a call) and `block` (a short block body).
Sampling is deterministic by seed and spread over files.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from context.languages import parser
from evaluation.corpus import Package

LEVELS = ("line_rest", "line", "statement", "expression", "block")

_STATEMENTS = {
    "expression_statement", "return_statement", "assert_statement", "raise_statement",
    "import_statement", "import_from_statement", "delete_statement",
}
_BLOCK_PARENTS = {"function_definition", "if_statement", "for_statement", "while_statement",
                  "with_statement", "try_statement", "else_clause", "elif_clause"}
MAX_BLOCK_LINES = 6


@dataclass(frozen=True)
class Task:
    package: str
    path: str  # relative to the package root
    level: str
    prefix: str
    suffix: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.package}:{self.path}:{len(self.prefix)}:{self.level}"


def candidates(source: str, level: str) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of maskable spans of one level in a Python source."""
    ts = parser("python")
    assert ts is not None
    data = source.encode()
    tree = ts.parse(data)

    # tree-sitter speaks bytes; map byte offsets to character offsets once per file.
    if len(data) == len(source):
        def char(byte_offset: int) -> int:
            return byte_offset
    else:
        to_char = [0] * (len(data) + 1)
        position = 0
        for index, ch in enumerate(source):
            width = len(ch.encode())
            for k in range(width):
                to_char[position + k] = index
            position += width
        to_char[len(data)] = len(source)

        def char(byte_offset: int) -> int:
            return to_char[byte_offset]

    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if level in ("line_rest", "line", "statement") and node.type in _STATEMENTS:
            start, end = char(node.start_byte), char(node.end_byte)
            text = source[start:end]
            if level == "statement":
                if 8 <= len(text) <= 400 and '"""' not in text:
                    yield start, end
                continue
            first_line = text.split("\n", 1)[0]
            if len(first_line) < 12 or "\n" in text or '"' * 3 in text:
                continue
            if level == "line":
                yield start, end
            else:
                cut = _cut_point(first_line)
                if cut is not None:
                    yield start + cut, end
        elif level == "expression" and node.type == "argument_list":
            start, end = char(node.start_byte) + 1, char(node.end_byte) - 1
            text = source[start:end]
            if 3 <= len(text) <= 120 and "\n" not in text:
                yield start, end
        elif level == "block" and node.type == "block" and node.parent is not None:
            if node.parent.type not in _BLOCK_PARENTS:
                continue
            start, end = char(node.start_byte), char(node.end_byte)
            text = source[start:end]
            if 1 <= text.count("\n") + 1 <= MAX_BLOCK_LINES and '"""' not in text:
                # The cursor stands at the start of the body's first line, indented.
                line_start = source.rfind("\n", 0, start) + 1
                if source[line_start:start].strip() == "":
                    yield start, end


def _cut_point(line: str) -> int | None:
    """A place a third of the way into the line where a developer pauses."""
    for i in range(max(4, len(line) // 3), len(line) - 3):
        if line[i - 1] in " (=[,.":
            return i
    return None


def sample_tasks(packages: list[Package], limit: int, seed: int,
                 levels: tuple[str, ...] = LEVELS) -> list[Task]:
    """`limit` tasks, round-robin over packages, files and levels, deterministic by seed."""
    rng = random.Random(seed)
    pools: list[list[tuple[Package, Path, str]]] = []
    for package in packages:
        files = package.python_files()
        rng.shuffle(files)
        pools.append([(package, f, level) for f in files for level in levels])
    tasks: list[Task] = []
    seen: set[str] = set()
    round_ = 0
    while len(tasks) < limit and any(round_ < len(p) for p in pools):
        for pool in pools:
            if round_ >= len(pool) or len(tasks) >= limit:
                continue
            package, file, level = pool[round_]
            task = _task_in_file(package, file, level, rng)
            if task is not None and task.id not in seen:
                seen.add(task.id)
                tasks.append(task)
        round_ += 1
    return tasks


def _task_in_file(package: Package, file: Path, level: str, rng: random.Random) -> Task | None:
    try:
        source = file.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    spans = list(candidates(source, level))
    if not spans:
        return None
    start, end = rng.choice(spans)
    return Task(
        package=package.label,
        path=str(file.relative_to(package.root)),
        level=level,
        prefix=source[:start],
        suffix=source[end:],
        target=source[start:end],
    )
