"""The policy simulator: AWS's authorization decision for one KMS request, with the reason.

There is exactly one implementation of these semantics in kmsguard; the prover, the rules, the
crypto engine and the audits all ask it. Pure functions, no I/O."""
