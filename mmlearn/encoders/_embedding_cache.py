"""A folder of per-row embeddings that frozen pretrained encoders share across fits.

A frozen backbone computes the same embedding for a cell in every fold and every candidate
of a grid search. With ``memory=`` (a folder path or a :class:`joblib.Memory`, as
``Pipeline(memory=)`` takes) an encoder keeps each row's embedding in a file of its own, so
that a run embeds each distinct row once, whichever folds or subsets it then appears in.

The API, for an encoder of any modality (a few lines each):

- :meth:`EmbeddingCache.from_memory` ``(memory, identity, kind=...)``: the cache of one
  fitted model, or None when ``memory`` is None. Called in ``fit``; it checks that the folder
  can be written to (a ValueError naming the folder otherwise).
- :meth:`EmbeddingCache.embed` ``(cells, compute, width=...)``: the embeddings of the cells,
  each read from the folder or, for the rows not there yet, computed with
  ``compute(rows)`` (one call for all of them) and stored.
- :func:`file_digest` and :func:`directory_digest`: content hashes of weights files and model
  directories, for ``identity``.

What the key holds
------------------
An entry's path is ``<folder>/mmlearn_embeddings/<identity hash>/<cell hash>.npy``.

- ``identity`` is what the encoder says determines the function from cell to embedding: the
  model's name, the *content hash* of its weights (so a retrained file under the same name is
  a new model), and every preprocessing parameter (size, channels, normalisation, sample
  rate, pooling...). :meth:`EmbeddingCache.from_memory` adds the cache format, mmlearn's and
  torch's versions (decoding and kernels may change between releases).
- A cell's hash covers its content: an array's dtype, shape and bytes; a text's UTF-8 bytes;
  for a file path (image and audio columns), the hash of the file's bytes, not its name or
  modification time. A rewritten file is a new entry even when its size and time stamp are
  unchanged (a copy that keeps times, a file system with coarse time stamps), and the same
  file reached through different paths (a shared folder mounted elsewhere on each Dask
  worker) is one entry. Reading a small image or clip to hash it costs far less than decoding
  it and running a backbone; a process hashes a given file once while its size and
  modification time stay the same. A cell that cannot be hashed (an object the data contract
  does not know) is computed every time and never stored: the encoder then raises its usual
  error for it.

Safe under concurrency
----------------------
Each entry is written to a temporary file in its final folder and moved into place with
``os.replace``, which is atomic on POSIX and Windows file systems (local disks, NFS): a
reader sees no entry or a complete one, never a half-written file. Two processes (Dask or
loky workers sharing the folder) that compute the same entry both write it; the last move
wins and both contents are the same embedding. An entry that cannot be read back as the
expected shape (a file damaged outside mmlearn) counts as missing and is rewritten.
Entries are never deleted by mmlearn: remove the folder to clear the cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingCache", "cache_folder", "directory_digest", "file_digest"]

# Bumped when the layout or the cell hashing changes, so that old entries are not read.
FORMAT = 1
SUBFOLDER = "mmlearn_embeddings"
# Rows embedded per ``compute`` call, each chunk stored before the next is computed: a run
# stopped part-way (a killed job, a Ctrl-C after an hour of embedding) keeps what it did,
# while a chunk is still large enough that the per-call setup does not show.
CHUNK_ROWS = 512
_CHUNK = 1 << 20


def cache_folder(memory: object) -> Path | None:
    """The folder of ``memory``: a path, a :class:`joblib.Memory` (its ``location``; entries
    go beside joblib's own) or None (no cache)."""
    if memory is None:
        return None
    location = getattr(memory, "location", memory)  # joblib.Memory
    if location is None:
        return None
    if not isinstance(location, str | os.PathLike):
        raise TypeError(f"memory must be None, a folder path or a joblib.Memory, "
                        f"got {type(memory).__name__}.")
    return Path(location).expanduser() / SUBFOLDER


def _check_writable(folder: Path, memory: object) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(
            f"memory={str(getattr(memory, 'location', memory))!r}: the embedding cache "
            f"folder {str(folder)!r} is not writable ({type(exc).__name__}: {exc}); pass a "
            "folder this process can create and write to, or memory=None."
        ) from exc


@functools.lru_cache(maxsize=4096)
def _digest_of(path: str, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """The hash of a file's bytes (hex); computed once per process while the file's size
    and modification time stay the same."""
    stat = os.stat(path)
    return _digest_of(os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def directory_digest(path: str | os.PathLike, *, skip: Sequence[str] = ()) -> str:
    """The hash of every file under a model directory (relative names and contents).

    ``skip``: top-level sub-folders left out (exports such as ``onnx`` that the encoder
    does not load).
    """
    root = Path(path)
    digest = hashlib.blake2b(digest_size=16)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root)
        if relative.parts[0] in skip:
            continue
        digest.update(relative.as_posix().encode() + b"\0" + file_digest(file).encode())
    return digest.hexdigest()


def _cell_digest(cell: object, kind: str) -> str | None:
    """A cell's content hash, or None for a cell of no known form."""
    digest = hashlib.blake2b(digest_size=20)
    if isinstance(cell, str | os.PathLike) and (kind != "text" or not isinstance(cell, str)):
        try:
            digest.update(b"file\0" + file_digest(cell).encode())
        except OSError:
            return None  # the encoder reports the unreadable file
    elif isinstance(cell, str):
        digest.update(b"text\0" + cell.encode("utf-8", "surrogatepass"))
    else:
        array = np.asarray(cell) if not isinstance(cell, np.ndarray) else cell
        if array.dtype.hasobject:
            return None
        array = np.ascontiguousarray(array)
        digest.update(f"array\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


class EmbeddingCache:
    """Per-row embeddings of one fitted model in a folder (see the module's docstring).

    Parameters
    ----------
    folder : Path
        The cache's root (``<memory>/mmlearn_embeddings``).
    identity : mapping
        JSON-serialisable description of the model and its preprocessing; entries of
        another identity are never read.
    kind : {"image", "audio", "text"}
        How a ``str`` cell is keyed: a file path (image, audio) or a text.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from mmlearn.encoders._embedding_cache import EmbeddingCache
    >>> cache = EmbeddingCache.from_memory(tempfile.mkdtemp(), {"model": "sum"}, kind="image")
    >>> cells = [np.ones((2, 2)), np.zeros((2, 2)), np.ones((2, 2))]
    >>> calls = []
    >>> def compute(rows):
    ...     calls.append(rows.tolist())
    ...     return np.array([[cells[i].sum()] for i in rows], dtype=np.float32)
    >>> cache.embed(cells, compute, width=1).ravel().tolist()
    [4.0, 0.0, 4.0]
    >>> cache.embed(cells[:2], compute, width=1).ravel().tolist(), calls
    ([4.0, 0.0], [[0, 1]])
    """

    def __init__(self, folder: Path, identity: Mapping, *, kind: str):
        self.kind = kind
        text = json.dumps(dict(identity), sort_keys=True, default=str)
        self.identity = text
        self.folder = Path(folder) / hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    @classmethod
    def from_memory(cls, memory: object, identity: Mapping, *, kind: str
                    ) -> EmbeddingCache | None:
        """The cache in ``memory``'s folder, or None when ``memory`` is None.

        Raises
        ------
        ValueError
            The folder cannot be created or written to (the message names it).
        """
        root = cache_folder(memory)
        if root is None:
            return None
        import torch

        import mmlearn

        full = {**identity, "cache_format": FORMAT, "mmlearn": mmlearn.__version__,
                "torch": torch.__version__}
        cache = cls(root, full, kind=kind)
        _check_writable(cache.folder, memory)
        description = cache.folder / "identity.json"
        if not description.exists():  # for people looking at the folder
            _write_atomic(description, cache.identity.encode())
        return cache

    def keys(self, cells: Sequence) -> list[str | None]:
        """Each cell's content hash (None: not cacheable)."""
        return [_cell_digest(cell, self.kind) for cell in cells]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def _read(self, key: str, width: int) -> np.ndarray | None:
        try:
            value = np.load(self._path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # absent, or damaged outside mmlearn: computed again
        if value.shape != (width,) or value.dtype != np.float32:
            return None
        return value

    def embed(self, cells: Sequence, compute: Callable[[np.ndarray], np.ndarray], *,
              width: int) -> np.ndarray:
        """The ``(len(cells), width)`` float32 embeddings of ``cells``.

        Rows found in the folder are read; the others (each distinct content once) are
        computed by calls ``compute(rows)`` (``rows``: sorted positions in ``cells``, at
        most :data:`CHUNK_ROWS` of them; returns one row of ``width`` per position), and
        each chunk is stored as soon as it is computed.
        """
        keys = self.keys(cells)
        out = np.empty((len(cells), width), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        uncached: list[int] = []
        for row, key in enumerate(keys):
            if key is None:
                uncached.append(row)
            elif key in todo:
                todo[key].append(row)
            else:
                value = self._read(key, width)
                if value is None:
                    todo[key] = [row]
                else:
                    out[row] = value
        groups = {group[0]: (key, group) for key, group in todo.items()}
        rows = np.array(sorted(list(groups) + uncached), dtype=np.int64)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start:start + CHUNK_ROWS]
            values = np.asarray(compute(chunk), dtype=np.float32)
            for row, value in zip(chunk.tolist(), values, strict=True):
                if row in groups:
                    key, group = groups[row]
                    out[group] = value
                    self._store(key, value)
                else:
                    out[row] = value
        return out

    def _store(self, key: str, value: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(value, dtype=np.float32), allow_pickle=False)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, buffer.getvalue())

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r})"


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path`` and move it into place."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
