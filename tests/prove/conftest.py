import pytest

# The prover needs z3 (a runtime dependency of ``kmsguard prove`` only).
pytest.importorskip("z3")
