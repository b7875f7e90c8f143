"""Studies: a grid of training runs (datasets x models x latent capacity m x seeds).

A study is a TOML file::

    name = "default"
    description = "..."
    seed = 0                       # the study seed; every cell's seed derives from it
    datasets = ["n8-d128"]         # synthetic/ recipe names, or paths to recipe files
    models = ["wae-mmd", "maskaae"]
    latent_dims = [2, 4, 8, 16]
    seeds = 3                      # replicates per (dataset, model, m)

    [train]                        # TrainConfig fields except seed
    steps = 3000
    eval_samples = 2000

    [model]                        # ModelConfig defaults for every model
    hidden = [256, 256]

A dataset entry may also be a table, ``{recipe = "n8-d128", latent_dims = [16]}``,
whose ``latent_dims`` replace the study's grid for that dataset (Table 2 runs m = 2n
only). A model entry may also be a table, ``{model = "wae-mmd", penalty = 1.0, label =
"wae-mmd-l1"}``: its keys override ``[model]`` (and ``[train]``: ``steps = 12000``
gives that model its own budget) and its ``label`` names it in records.

**Where outcomes go.** A study's committed *reference outcome* is the folder beside its
spec named after it (``studies/fig2.toml`` -> ``studies/fig2/``); a user's runs go to
``runs/NAME/`` (:func:`default_out`, ignored by git). A sweep never writes into a
reference folder unless asked to (``update_reference``), so a fresh clone's main job
trains and can then be compared with the reference (:mod:`latentdim.studies.compare`).

The study expands into :class:`Cell` objects. A cell is frozen and self-contained (it
carries the dataset's full spec, not a file name), so :func:`run_cell` is a pure
function of it: the same record comes out whichever process or machine runs it.
Replicate r trains with seed ``SeedSequence(study seed).spawn(seeds)[r]``, shared by
every dataset, model and m of that replicate (common random numbers along the m axis).
"""

from __future__ import annotations

from latentdim.studies.engine import (
    MASK_HISTORY_ROWS,
    MAX_STACK,
    _cut,
    _init_worker,
    _record,
    mask_history,
    plan_stacks,
    run_cell,
    run_stack,
    stack_key,
    worker_pool,
)
from latentdim.studies.spec import (
    _MODEL_KEYS,
    _STUDY_KEYS,
    _TRAIN_KEYS,
    _WHERE,
    RUNS,
    Cell,
    Study,
    StudyListing,
    _check_images,
    _dataset,
    _grid,
    _model,
    _real_dataset,
    _synthetic_dataset,
    _table,
    cell_data,
    checked_rows,
    default_out,
    is_reference_dir,
    list_studies,
    load_study,
    studies_dir,
)
from latentdim.training import torch_threads

__all__ = [
    "MASK_HISTORY_ROWS",
    "MAX_STACK",
    "RUNS",
    "_MODEL_KEYS",
    "_STUDY_KEYS",
    "_TRAIN_KEYS",
    "_WHERE",
    "Cell",
    "Study",
    "StudyListing",
    "_check_images",
    "_cut",
    "_dataset",
    "_grid",
    "_init_worker",
    "_model",
    "_real_dataset",
    "_record",
    "_synthetic_dataset",
    "_table",
    "cell_data",
    "checked_rows",
    "default_out",
    "is_reference_dir",
    "list_studies",
    "load_study",
    "mask_history",
    "plan_stacks",
    "run_cell",
    "run_stack",
    "stack_key",
    "studies_dir",
    "torch_threads",
    "worker_pool",
]
