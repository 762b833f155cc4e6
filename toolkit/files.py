"""Reading a file named by a user (a manifest, a key, a secret, a settings file) safely.

:func:`read_limited` is the one way the toolkit reads such a file: a regular file only (a FIFO,
a device such as ``/dev/zero`` or a directory is refused before it is read, so a read can neither
hang nor fill memory), at most ``limit`` bytes (checked against the file's size and again while
reading, for a file that grows), opened without following a FIFO's writer (``O_NONBLOCK``).
Failures are :class:`~toolkit.errors.InputFileError` naming the file and what is wrong; callers
turn it into their own error (a manifest's :class:`~toolkit.errors.ManifestError`, ...).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

from toolkit.errors import InputFileError

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "MAX_SECRET_FILE_BYTES",
    "MAX_TEXT_FILE_BYTES",
    "read_limited",
    "read_limited_text",
]

# A private or public key: PEM or RSAKeyValue XML of a 16384-bit key is about 13 KiB.
MAX_KEY_FILE_BYTES: Final = 64 * 1024
# A file holding one secret (a client secret is 32 hex characters): anything long is not one.
MAX_SECRET_FILE_BYTES: Final = 4 * 1024
# A manifest, a settings or secrets file: hand-written text, far smaller.
MAX_TEXT_FILE_BYTES: Final = 1024 * 1024

_CHUNK: Final = 64 * 1024


def read_limited(path: str | os.PathLike[str], *, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``; :class:`InputFileError` if it is not one, is
    larger than ``limit`` bytes or cannot be read (``what`` names it in the message)."""
    file = Path(path)
    try:
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputFileError(
            f"{file}: the {what} cannot be read ({_reason(exc)})", path=str(file)
        ) from None
    except ValueError:  # NUL in the path: no file can have that name
        raise InputFileError(f"the {what} name holds a NUL character", path=None) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"{file}: the {what} is not a regular file", path=str(file))
        if info.st_size > limit:
            raise InputFileError(
                f"{file}: the {what} is larger than {limit:,} bytes", path=str(file)
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(descriptor, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise InputFileError(
                    f"{file}: the {what} is larger than {limit:,} bytes", path=str(file)
                )
        return b"".join(chunks)
    except InputFileError:
        raise
    except OSError as exc:
        raise InputFileError(
            f"{file}: the {what} cannot be read ({_reason(exc)})", path=str(file)
        ) from None
    finally:
        os.close(descriptor)


def read_limited_text(
    path: str | os.PathLike[str], *, limit: int = MAX_TEXT_FILE_BYTES, what: str = "file"
) -> str:
    """:func:`read_limited` decoded as UTF-8 (a byte order mark is dropped)."""
    data = read_limited(path, limit=limit, what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: the {what} is not UTF-8 text (byte {exc.start})", path=str(path)
        ) from None


def _reason(error: OSError) -> str:
    if error.errno is not None and error.errno in errno.errorcode:
        return os.strerror(error.errno).lower()
    return type(error).__name__
