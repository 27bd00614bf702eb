"""llama-cpp-python's OpenAI-compatible server, in the first-run probe's configuration.

`python -m evaluation.openai_server ARGS` is `python -m llama_cpp.server ARGS`, except
that where llama.cpp's extra buffer types crash (CPUs with AMX), the model loads without
them, as Tactful's own worker does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.llama import disable_extra_buffer_types
from models.probe import FAST, verdict_for
from models.settings import LlamaSettings


def main() -> None:
    model = Path(sys.argv[sys.argv.index("--model") + 1])
    if verdict_for(model, LlamaSettings()).config != FAST:
        disable_extra_buffer_types()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
