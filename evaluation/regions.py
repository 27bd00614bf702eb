"""Held-out regions: which lines of real files the simulated developer types back.

A region is consecutive lines of code inside one function body; the document opens
without them. The same seed picks the same regions.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.corpus import Package


@dataclass(frozen=True)
class Region:
    """Lines of a file the developer will type; the document starts without them."""

    package: str
    root: Path  # the package's root: the server's workspace
    path: Path
    text: str  # the whole file, as it will read once the region is typed
    start: int  # offset of the region's first typed character (after its indentation)
    end: int  # offset just past its last character (before the last line's newline)
    first_line: int  # 0-based
    lines: int

    @property
    def target(self) -> str:
        return self.text[self.start : self.end]

    @property
    def opened(self) -> str:
        """The document as the developer finds it: the region gone, the cursor's line
        indented as an editor leaves it after Enter."""
        return self.text[: self.start] + self.text[self.end :]

    @property
    def relpath(self) -> str:
        return str(self.path.relative_to(self.root))


def _function_spans(tree: ast.AST) -> list[tuple[int, int]]:
    """(def line, last line), 0-based, of every function."""
    return [
        (func.lineno - 1, (func.end_lineno or func.lineno) - 1)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _innermost_end(spans: list[tuple[int, int]], line: int) -> int | None:
    """The last line of the innermost function whose body holds `line`."""
    ends = [last for first, last in spans if first < line <= last]
    return min(ends) if ends else None


def candidate_starts(text: str, region_lines: int) -> list[int]:
    """0-based first lines of possible regions: a line starting a statement in a function
    body (not its docstring) from which `region_lines` lines of code follow inside the
    innermost function holding it."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    lines = text.split("\n")
    spans = _function_spans(tree)
    docstrings = {
        id(func.body[0])
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        and ast.get_docstring(func, clean=False) is not None
    }
    starts: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or id(node) in docstrings:
            continue
        first = node.lineno - 1
        last = _innermost_end(spans, first)
        if last is None or lines[first][: node.col_offset].strip():
            continue  # not in a function body, or not the first statement on its line
        if _region_end(lines, first, last, region_lines) is not None:
            starts.add(first)
    return sorted(starts)


def _region_end(lines: list[str], first: int, last: int, region_lines: int) -> int | None:
    """The last line of a region from `first` with `region_lines` code lines, within line
    `last`; None if there are not enough before a comment or too many blank lines (a
    region is code to type, not prose nobody could predict)."""
    count = blank = 0
    for number in range(first, last + 1):
        stripped = lines[number].strip()
        if stripped.startswith("#"):
            return None
        if not stripped:
            blank += 1
            if blank > region_lines // 2:
                return None
            continue
        count += 1
        if count == region_lines:
            return number
    return None


def make_region(package: Package, path: Path, text: str, first: int, region_lines: int) -> Region:
    """The region from line `first` (a candidate start) of `path`."""
    lines = text.split("\n")
    last = _innermost_end(_function_spans(ast.parse(text)), first)
    stop = None if last is None else _region_end(lines, first, last, region_lines)
    if stop is None:
        raise ValueError(f"{path}:{first + 1} starts no region of {region_lines} lines")
    # Trailing spaces are invisible in the source and never suggested: drop them.
    for number in range(first, stop + 1):
        lines[number] = lines[number].rstrip()
    text = "\n".join(lines)
    line_start = sum(len(line) + 1 for line in lines[:first])
    indent = len(lines[first]) - len(lines[first].lstrip())
    end = sum(len(line) + 1 for line in lines[: stop + 1]) - 1
    return Region(
        package=package.label, root=package.root, path=path, text=text,
        start=line_start + indent, end=end, first_line=first, lines=stop - first + 1,
    )


def _read_python(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError):
        return None


def pick_regions(
    packages: Sequence[Package], files: int, region_lines: int, seed: int
) -> list[Region]:
    """Up to `files` regions, each from a different file, taken from the packages in turn
    so that they spread over the corpus; the same seed picks the same regions."""
    rng = random.Random(seed)
    queues: list[tuple[Package, list[Path]]] = []
    for package in packages:
        paths = package.python_files()
        rng.shuffle(paths)
        queues.append((package, paths))
    regions: list[Region] = []
    while len(regions) < files and any(paths for _, paths in queues):
        for package, paths in queues:
            if len(regions) >= files:
                break
            while paths:
                path = paths.pop()
                text = _read_python(path)
                starts = candidate_starts(text, region_lines) if text else []
                if text and starts:
                    regions.append(
                        make_region(package, path, text, rng.choice(starts), region_lines)
                    )
                    break
    return regions
