import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests (and the kmsguard processes they start) use their own cache, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KMSGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("kmsguard-cache")))
    yield
    mp.undo()
