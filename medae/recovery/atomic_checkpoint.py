"""Checkpoints that are whole or absent: written beside their destination, flushed, then renamed into place.

Lightning's own writer stages a checkpoint in the system's temporary folder and moves it, which across
file systems is a copy into the destination: a full disk then leaves a truncated ``last.ckpt`` where a
good one was, and a hard link to the old file (the local store's artifact) sees the new bytes. Here the
file is written next to its destination and renamed with :func:`os.replace`, so the old checkpoint
stays whole until the new one is, and a failed write names the file and keeps every earlier checkpoint.
"""

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from medae.errors import DataError


def write_atomically(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Save ``checkpoint`` at ``path``: all of it, or nothing and the file that was there before.

    Raises:
        DataError: the folder cannot be written (full disk, read-only, no permission).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_atomically({"epoch": 3}, folder / "last.ckpt")
        >>> torch.load(folder / "last.ckpt")["epoch"], [p.name for p in folder.iterdir()]
        (3, ['last.ckpt'])
    """
    path = Path(path)
    staged = path.with_name(f".{path.name}.{os.getpid()}.partial")
    serialised = io.BytesIO()  # in memory first, as Lightning does: a failed write is then an OSError
    torch.save(checkpoint, serialised)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(staged, "wb") as stream:
            stream.write(serialised.getbuffer())
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staged, path)
    except OSError as error:
        staged.unlink(missing_ok=True)
        kept = "the earlier checkpoints are kept" if path.parent.is_dir() else "nothing was written"
        raise DataError(str(path), f"cannot be written ({error.strerror or error}); {kept}") from error


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with :func:`write_atomically` as the writer."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to the local file ``path`` atomically."""
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        write_atomically(checkpoint, path)
