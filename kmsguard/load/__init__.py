"""Loaders: every input kind becomes the same ``Inventory``.

Nothing downstream of this package sees HCL, YAML tags or boto3 responses."""
