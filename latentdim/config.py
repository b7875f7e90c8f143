"""What a run is asked to be, without torch: the model and training configs, and the
names of every registry the command line offers (models, feature networks, executors,
estimators, VAE likelihoods, nets).

Importing this module costs no more than numpy, so ``latentdim --help`` and the
commands that train nothing start at once; each registry (``latentdim.models.MODELS``
and the others) holds exactly the names listed here (``tests/test_cli_data.py`` checks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from latentdim.errors import LatentdimError

MODEL_NAMES = ("wae-mmd", "wae-gan", "flexae", "maskaae", "vae", "two-stage-vae")  # latentdim.models.MODELS
FEATURE_NAMES = ("identity", "digits-cnn", "mnist-cnn", "inception")  # latentdim.metrics.features.FEATURES
EXECUTOR_NAMES = ("local", "dask")  # latentdim.studies.sweep.EXECUTORS
ESTIMATOR_NAMES = ("maskaae", "vae")  # latentdim.estimate.ESTIMATORS
LIKELIHOODS = ("fixed", "learned", "bernoulli")  # the VAE family's decoders (latentdim.models.vae)
NETS = ("mlp", "conv")  # encoder / decoder families (latentdim.nn.layers)
CONV_CHANNELS = (32, 64)  # the convolutional trunk's channels, image side halved by each
MIN_CONV_SIDE = 2 ** len(CONV_CHANNELS)  # an image side the convolutional trunk can halve to >= 1


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and loss weights of one model.

    ``data_dim`` is filled in from the data by :func:`latentdim.runs.fit`.
    ``hidden`` are the encoder's hidden widths (the decoder mirrors them);
    ``critic_hidden`` the latent critic's, for adversarial models. The default
    256-256 auto-encoder (the reference workload's) and 128-128 latent critic make a
    synthetic run (d = 128) take seconds to a minute on one core; the critic sees only
    m <= ~64 inputs and runs 5 times per iteration, so it is kept narrower. The MNIST
    nets of the MaskAAE paper (4 x 1024) are far more than such data needs.
    ``penalty`` is the WAE-MMD weight lambda (default 10), the WAE-GAN adversarial
    weight (default 1) or the VAE's beta (default 1); MaskAAE's weights are fixed by its
    recipe. ``likelihood`` is the VAE family's decoder (:data:`LIKELIHOODS`; None: the
    model's default); other models take none. ``net`` is ``mlp`` or ``conv`` (images:
    :func:`latentdim.nn.layers.conv_encoder`, whose MLP head takes ``hidden``);
    ``image_shape`` (C, H, W) is how a row's pixels are laid out, filled in from an
    image source (IDX, the ``x_train`` layout, scikit-learn's digits) and recorded with
    the run; ``conv`` needs it. ``kl_warmup`` (VAE family only; default 0, none) is
    the fraction of the training steps over which the KL weight rises linearly from 0
    to beta (:class:`latentdim.models.vae.VAE`). ``stage2_steps`` (2-Stage VAE only;
    default 0) is stage 2's own budget: 0 splits the training steps in half between the
    stages; N > 0 trains stage 1 for all the steps, then stage 2 for N more
    (:class:`latentdim.models.vae.TwoStageVAE`).
    """

    model: str
    latent_dim: int
    data_dim: int | None = None
    hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (128, 128)
    penalty: float | None = None
    likelihood: str | None = None
    net: str = "mlp"
    image_shape: tuple[int, int, int] | None = None
    kl_warmup: float = 0.0
    stage2_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "critic_hidden", tuple(self.critic_hidden))
        if self.image_shape is not None:
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
            self._check_image_shape()
        if self.latent_dim < 1:
            raise LatentdimError(f"latent dimension must be >= 1, got {self.latent_dim}")
        if self.data_dim is not None and self.data_dim < 1:
            raise LatentdimError(f"data dimension must be >= 1, got {self.data_dim}")
        if any(h < 1 for h in self.hidden + self.critic_hidden):
            raise LatentdimError("hidden widths must be >= 1")
        if self.penalty is not None and not self.penalty >= 0:
            raise LatentdimError(f"penalty must be >= 0, got {self.penalty}")
        if self.likelihood is not None and self.likelihood not in LIKELIHOODS:
            raise LatentdimError(
                f"unknown likelihood {self.likelihood!r}; choose from {', '.join(LIKELIHOODS)}"
            )
        if not 0.0 <= self.kl_warmup < 1.0:
            raise LatentdimError(f"kl_warmup must be a fraction of the steps in [0, 1), got {self.kl_warmup}")
        if not isinstance(self.stage2_steps, int) or self.stage2_steps < 0:
            raise LatentdimError(f"stage2_steps must be an integer >= 0, got {self.stage2_steps}")
        if self.stage2_steps and self.model != "two-stage-vae":
            raise LatentdimError(f"{self.model} has no second stage: stage2_steps is for two-stage-vae")
        if self.net not in NETS:
            raise LatentdimError(f"unknown net {self.net!r}; choose from {', '.join(NETS)}")

    def _check_image_shape(self) -> None:
        shape = self.image_shape
        if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
            raise LatentdimError(f"image shape must be 3 positive integers (C, H, W), got {shape}")
        if self.data_dim is not None and shape[0] * shape[1] * shape[2] != self.data_dim:
            raise LatentdimError(
                f"image shape {'x'.join(map(str, shape))} has {shape[0] * shape[1] * shape[2]} values "
                f"per image, but the data has {self.data_dim} columns"
            )
        if self.net == "conv" and min(shape[1:]) < MIN_CONV_SIDE:
            raise LatentdimError(
                f"net 'conv' needs images of at least {MIN_CONV_SIDE} x {MIN_CONV_SIDE} pixels, "
                f"got {shape[1]} x {shape[2]}"
            )

    def iterations(self, steps: int) -> int:
        """How many iterations a budget of ``steps`` trains: ``steps``, and a 2-Stage VAE's
        ``stage2_steps`` after them."""
        return steps + self.stage2_steps

    def conv_image_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) a ``conv`` net reads a row as; one line where it is unknown."""
        if self.image_shape is None:
            raise LatentdimError(
                "net 'conv' needs the image shape (C, H, W), and the data source does not say it: "
                "give --image-shape CxHxW (image_shape = [C, H, W] in a study)"
            )
        return self.image_shape

    def to_dict(self) -> dict:
        return asdict(self)



@dataclass(frozen=True)
class TrainConfig:
    """Training budget and bookkeeping.

    ``steps`` counts iterations (one pass through the model's step list: one update
    for WAE-MMD, 1 + 5 + 1 for WAE-GAN, 1 + 5 + 1 + 1 for MaskAAE). ``holdout`` is the
    fraction of data kept for evaluation; ``eval_samples`` caps the evaluation count N
    (the Fréchet distance's bias is O(1/N), so compare runs at equal N).
    ``recovery_steps`` trains the latent-recovery regressor of the evaluation (synthetic
    data only; 0 skips that metric). ``fid_features`` names the feature network of
    ``fid`` and ``kid`` (:data:`FEATURE_NAMES`; ``identity``: data space).
    """

    steps: int = 3000
    batch_size: int = 64
    seed: int = 0
    holdout: float = 0.1
    eval_samples: int = 10000
    log_every: int = 50
    diverge_at: float = 1e6
    recovery_steps: int = 1000
    fid_features: str = "identity"

    def __post_init__(self) -> None:
        problems = [
            (self.steps < 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size < 2, f"batch size must be >= 2, got {self.batch_size}"),
            (self.seed < 0, f"seed must be >= 0, got {self.seed}"),
            (not 0 < self.holdout < 1, f"holdout must be in (0, 1), got {self.holdout}"),
            (self.eval_samples < 2, f"eval samples must be >= 2, got {self.eval_samples}"),
            (self.log_every < 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.recovery_steps < 0, f"recovery_steps must be >= 0, got {self.recovery_steps}"),
            (
                self.fid_features not in FEATURE_NAMES,
                f"unknown fid_features {self.fid_features!r}; choose from {', '.join(FEATURE_NAMES)}",
            ),
        ]
        for bad, message in problems:
            if bad:
                raise LatentdimError(message)

    def to_dict(self) -> dict:
        return asdict(self)
