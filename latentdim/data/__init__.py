"""Data: the synthetic maps with a known intrinsic dimension (:mod:`.synthetic`), the
isotropic latent laws they draw from (:mod:`.latents`), and the readers for a user's
files and the bundled sets (:mod:`.readers`)."""
