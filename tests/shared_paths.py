"""Where the shared corpora are: ``shared/`` beside the repository (as CI lays it out), or
``$KMSGUARD_SHARED``. Tests that read them fail, never skip, when they are missing."""

import os
from pathlib import Path

SHARED = Path(os.environ.get("KMSGUARD_SHARED") or Path(__file__).resolve().parents[2] / "shared")
CORPUS = SHARED / "corpus"
CORPUS_ODD = SHARED / "corpus-odd"
REALWORLD = SHARED / "realworld-kms"
