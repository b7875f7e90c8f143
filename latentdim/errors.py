"""The one exception type users see: a bad input, named in one line."""


class LatentdimError(ValueError):
    """Invalid input or an unusable file; the CLI prints its message and exits 2."""
