import pytest
import torch

from latentdim import make_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_n8():
    """2000 points of n = 8 in R^32: enough for a few training steps."""
    return make_dataset(8, 32, samples=2000, seed=0)


@pytest.fixture(autouse=True)
def feature_cache(tmp_path_factory, monkeypatch):
    """Trained feature networks go to one folder per test session, never the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "latentdim-cache"
    monkeypatch.setenv("LATENTDIM_CACHE", str(folder))
    return folder
