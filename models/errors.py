"""Errors of the model layer, each with a message a user can act on."""


class ModelError(Exception):
    """Base of every model error; the CLI prints its message without a traceback."""


class UnknownModelError(ModelError):
    pass


class ModelNotInstalledError(ModelError):
    pass


class ModelDownloadError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class ModelCrashedError(ModelError):
    """The model process died or hung while it worked for the caller."""


class ModelUnavailableError(ModelError):
    """The model process is down (restarting after a crash, or given up on)."""
