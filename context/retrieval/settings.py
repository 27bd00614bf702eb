"""What retrieval may use: its sources and their limits."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("outline", "definition", "edit", "similar", "suffix")


@dataclass(frozen=True)
class RetrievalSettings:
    sources: tuple[str, ...] = SOURCES
    query_lines: int = 12  # lines before the cursor whose names are looked up
    similar_query_lines: int = 20
    max_definitions: int = 6
    max_class_members: int = 4  # method signatures shown under a class definition
    max_similar: int = 2
    max_edits: int = 3
    max_imports: int = 16
    suffix_lines: int = 16
    max_file_definitions: int = 12
    evict_similarity: float = 0.75  # chunks this close to the cursor area are left out
    min_similarity: float = 0.08
    source_budget_ms: float = 40.0
    shares: dict[str, float] = field(default_factory=lambda: {
        "definition": 0.5, "outline": 0.35, "similar": 0.6, "edit": 0.3, "suffix": 0.5,
    })  # the most of the context budget one source may take
