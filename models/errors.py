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
