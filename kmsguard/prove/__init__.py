"""The access prover: the simulator's semantics (``kmsguard.authz``) compiled to SMT (z3), to answer
questions about *all* requests at once ("can a principal of another account decrypt?").

Every "yes" carries a witness request that ``kmsguard.authz.evaluate.decide`` confirms; every "no" is
an unsat proof; a solver timeout is "unknown". z3 is imported by the modules of this package only,
never by ``kmsguard check``: import ``kmsguard.prove.questions`` when a question is asked.
"""
