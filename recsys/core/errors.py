"""The small error vocabulary of recsys: the library raises these, the CLI and UI turn them into messages."""


class RecsysError(Exception):
    """Base of every error the product reports to a person; its message is safe to show."""


class ConfigError(RecsysError):
    """A setting (environment variable, flag, URL) is invalid."""


class CatalogError(RecsysError):
    """A catalog file is malformed; the message names the file, line and field."""


class ModelError(RecsysError):
    """A model package is missing or a model could not be loaded; the message says what to install."""


class StoreError(RecsysError):
    """The database is unreachable or inconsistent."""


class SessionNotFound(RecsysError):
    """The session id does not exist (or is not the caller's)."""
