"""The exceptions users see: a bad input, named in one line, and a diverged run."""


class LatentdimError(ValueError):
    """Invalid input or an unusable file; the CLI prints its message and exits 2."""


class DivergenceError(RuntimeError):
    """A loss became non-finite or exceeded the divergence threshold."""

    def __init__(self, iteration: int, name: str, value: float):
        self.iteration, self.name, self.value = iteration, name, value
        super().__init__(f"training diverged at iteration {iteration}: {name} = {value:.4g}")
