"""kmsguard's reference KMS engine: what the bytes do.

``from kmsguard.crypto import LocalKMS`` gives a local KMS with boto3's method names, parameters,
responses and errors, whose calls are authorized by kmsguard's simulator before any cryptography.
Layers: ``primitives`` (pure functions over ``cryptography``), ``specs`` / ``keys`` / ``blob`` /
``engine`` / ``errors`` (KMS semantics), ``authorize`` (requests for the simulator), ``validation``
(botocore's service model), ``facade`` (``LocalKMS``). Needs the ``cryptography`` and ``botocore``
packages; nothing on kmsguard's ``check`` path imports this package.
"""

from kmsguard.crypto.facade import LocalKMS

__all__ = ["LocalKMS"]
