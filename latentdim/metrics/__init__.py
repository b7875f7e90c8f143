"""Evaluation metrics (METHOD.md §4), all pure numpy in float64 but the feature
networks': what generated samples score (:mod:`.generation`), what a model's codes and
mask say (:mod:`.codes`), what needs the synthetic data's ground truth (:mod:`.truth`);
the feature networks for FID and KID on images (:mod:`.features`, :mod:`.feature_nets`,
torch) and the FID floor of a sweep's datasets (:mod:`.floors`) load only when imported."""

from latentdim.metrics.codes import (
    ACTIVE_THRESHOLD,
    ACTIVE_UNIT_THRESHOLD,
    active_dims,
    active_units,
    local_gap_contrasts,
    local_gap_counts,
    nac,
    variance_gap_contrasts,
    variance_gap_count,
    variance_gap_counts,
)
from latentdim.metrics.generation import (
    GENERATION_METRICS,
    NEAREST_K,
    PRIMARY_METRIC,
    WORKING_MEMORY_MB,
    energy_distance,
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_fit,
    knn_radii,
    prdc,
    prdc_energy,
    recon_mse,
    scaled_fid,
)
from latentdim.metrics.truth import (
    OFF_MANIFOLD_QUANTILE,
    latent_recovery,
    manifold_distance,
    manifold_distance_from,
    off_manifold,
)

__all__ = [
    "ACTIVE_THRESHOLD",
    "ACTIVE_UNIT_THRESHOLD",
    "GENERATION_METRICS",
    "NEAREST_K",
    "OFF_MANIFOLD_QUANTILE",
    "PRIMARY_METRIC",
    "WORKING_MEMORY_MB",
    "active_dims",
    "active_units",
    "energy_distance",
    "frechet_distance",
    "frechet_distance_gaussians",
    "gaussian_fit",
    "knn_radii",
    "latent_recovery",
    "local_gap_contrasts",
    "local_gap_counts",
    "manifold_distance",
    "manifold_distance_from",
    "nac",
    "off_manifold",
    "prdc",
    "prdc_energy",
    "recon_mse",
    "scaled_fid",
    "variance_gap_contrasts",
    "variance_gap_count",
    "variance_gap_counts",
]
