"""Dry runs: kmsguard's simulator and crypto engine together.

``scenario`` reads scenario files (keys, principals, steps with expected outcomes; docs/verify.md),
``run`` runs them against a ``LocalKMS`` whose every call is authorized by the simulator
(``traced_kms`` keeps each decision for the report), ``report`` renders the results as text, JSON
or JUnit XML. ``kmsguard verify`` (``kmsguard/verify_cli.py``) is the command line.
"""
