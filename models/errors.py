"""User-facing errors: each message says what is wrong and what to do about it."""


class VeredictoError(Exception):
    """Bad input a person can fix. The message is shown as is (no traceback)."""


class CheckpointError(VeredictoError):
    """A checkpoint directory that cannot be loaded safely."""


class DataError(VeredictoError):
    """An evaluation file or column mapping that cannot be used."""
