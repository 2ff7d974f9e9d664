"""Where the course keeps what it builds (tokenizer, base model, SFT model, ...), and how it writes it.

Plain module, taught by no chapter. Artifacts live in a folder inside the checkout that git ignores
(`.cache/` beside `pyproject.toml`); `MINI_LLAMA_CACHE` moves it. A missing artifact is rebuilt
deterministically by whoever needs it, so a later chapter can start cold.
"""

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl  # POSIX file locks; Windows has none, and there two simultaneous builds each write a whole file
except ImportError:
    fcntl = None

import torch


def cache_dir() -> Path:
    "The artifact folder: $MINI_LLAMA_CACHE, else `.cache/` in the checkout, else ~/.cache/mini_llama."
    if env := os.environ.get("MINI_LLAMA_CACHE"):
        path = Path(env)
    else:
        checkout = Path(__file__).resolve().parent.parent
        in_checkout = (checkout / "pyproject.toml").exists()
        path = checkout / ".cache" if in_checkout else Path.home() / ".cache" / "mini_llama"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], previous: Path | None = None) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`: a crash never leaves half a file.
    With `previous`, the file `path` held is first renamed to it, once the new one is whole (the one before is kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_name(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _temporary_name(path: Path) -> tuple[str, str]:
    "The prefix and suffix of the temporary files `atomic_write` writes for `path` (hidden, beside it)."
    return f".{path.name}.", ".tmp"


def leftover_temporaries(path: str | os.PathLike) -> list[Path]:
    "The temporary files that writes of `path` left behind when their process was killed (SIGKILL runs no `finally`)."
    path = Path(path)
    prefix, suffix = _temporary_name(path)
    return sorted(path.parent.glob(f"{glob.escape(prefix)}*{suffix}"))


def atomic_save(obj, path: str | os.PathLike, previous: Path | None = None) -> Path:
    "`torch.save` through `atomic_write`."
    return atomic_write(path, lambda tmp: torch.save(obj, tmp), previous)


@contextlib.contextmanager
def locked(path: Path, wait: bool = True):
    """Hold an exclusive lock on `path` (created if missing) for the `with` block. With wait=False, raise
    BlockingIOError at once when another process holds it."""
    with open(path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def build_once(path: str | os.PathLike, build: Callable[[Path], None]) -> Path:
    """`path` if it exists, else `build(path)` under a lock beside it: of two processes that need the same missing
    artifact at once (two pytest workers, two notebooks), one builds it and the other waits for it."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(f".{path.name}.lock")):
        if not path.exists():
            build(path)
    return path
