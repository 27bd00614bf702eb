"""The language server: handlers, documents, configuration and the `tactful` command."""
