"""Reading input files: one clear error for what cannot be read as text."""

from __future__ import annotations

from pathlib import Path

from kmsguard.findings import InputError

MAX_FILE_BYTES = 20 * 1024 * 1024  # IaC and policies are far smaller; bigger is a mistake or an attack


def read_text(path: str, limit: int = MAX_FILE_BYTES) -> str | InputError:
    try:
        p = Path(path)
        size = p.stat().st_size
        if size > limit:
            return InputError(
                path,
                0,
                f"file is {size // (1024 * 1024)} MB, over the {limit // (1024 * 1024)} MB limit for inputs",
            )
        data = p.read_bytes()
    except PermissionError:
        return InputError(path, 0, "permission denied")
    except IsADirectoryError:
        return InputError(path, 0, "is a directory")
    except OSError as err:
        return InputError(path, 0, err.strerror or str(err))
    if b"\x00" in data[:8192]:
        return InputError(path, 0, "binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return InputError(path, line, f"invalid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})")
    return text[1:] if text.startswith("\ufeff") else text
