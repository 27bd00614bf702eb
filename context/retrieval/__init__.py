"""Retrieval: what of the repository goes into the prompt for one completion.

Four sources, each under its own time budget, then fitted into one token budget by
priority:

1. `definition`: the symbols used near the cursor, resolved through the file's imports,
   the file itself and the index (usages → definitions): signatures and the first
   docstring line, never whole bodies;
2. `outline`: the enclosing class's other members and the file's imports, where the
   prompt's window of the file no longer shows them;
3. `similar`: chunks ranked by Jaccard over identifiers (FTS5 finds the candidates),
   recently opened and edited files first, without what the window shows and without
   near-copies of the cursor area (they make the model repeat);
4. `edit`: the user's recent edits outside the window;
5. `suffix`: the code after the cursor, for models without fill-in-the-middle (it is the
   likeliest place for the names the next lines use); left out for FIM models, whose
   prompt has the suffix already.

The query is the lines before the cursor's line plus the identifiers completed on it, so
typing a word does not change the context and the KV cache behind it survives.
"""

from context.retrieval.budget import fit
from context.retrieval.folders import CONTEXT_LOG, WorkspaceRetriever
from context.retrieval.settings import SOURCES, RetrievalSettings
from context.retrieval.sources import Retriever

__all__ = ["CONTEXT_LOG", "SOURCES", "RetrievalSettings", "Retriever", "WorkspaceRetriever",
           "fit"]
