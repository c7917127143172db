"""kmsguard: who can do what with each AWS KMS key, and will the encryption actually work."""

__version__ = "0.1.0"
