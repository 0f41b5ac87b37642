"""Errors that carry a one-line, user-facing message.

The CLI maps them to exit codes (2 for usage, 1 for runtime) and the TUI to notifications,
so no caller ever has to show a traceback for a problem the user can fix.
"""


class PaError(Exception):
    """A failure the user can act on; `str(err)` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(PaError):
    """Bad arguments, bad names, bad paths: the user must change what they typed."""

    exit_code = 2


class ConfigError(UsageError):
    """config.toml is unreadable or a key in it has a bad value."""


class CorpusError(PaError):
    """A corpus could not be read or yielded nothing usable."""


class StoreError(PaError):
    """The project store is missing, locked or from a newer version of pa."""


class BackendError(PaError):
    """A model backend failed: unreachable, model missing, malformed or empty answer."""


class NotTrainedError(PaError):
    """A model that a step needs has not been trained yet; the message names the command."""


class TrainingBusyError(PaError):
    """A training process already holds the run (or the profile's runs of that kind)."""
