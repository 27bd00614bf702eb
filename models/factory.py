"""The one place back ends are built: from the `engine` setting and the model.

`"embedded"` (the default) runs the model on this machine, in a worker process
(models.embedded); an object names a server (models.remote). The engine above never
knows which it talks to.
"""

from __future__ import annotations

from typing import Any

from models.backend import ModelBackend
from models.embedded import HANG_S, StateListener, open_model
from models.remote import RemoteBackend, parse_engine
from models.settings import LlamaSettings


def open_backend(engine: Any, model: str, settings: LlamaSettings | None = None,
                 on_state: StateListener | None = None, restart: bool = False,
                 hang_s: float = HANG_S) -> ModelBackend:
    """The back end of `engine` ("embedded" or a server's object, see parse_engine). For
    the embedded engine, `model` in a worker process, replaced when it dies if `restart`;
    a server serves its own model, so `model` and `settings` do not apply to it."""
    spec = parse_engine(engine)
    if spec is None:
        return open_model(model, settings, on_state=on_state, restart=restart, hang_s=hang_s)
    return RemoteBackend(spec, on_state)
