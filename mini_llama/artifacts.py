"""Where the course keeps what it builds (tokenizer, base model, SFT model, ...), and how it writes it.

Plain module, taught by no chapter. Artifacts live in a folder inside the checkout that git ignores
(`.cache/` beside `pyproject.toml`); `MINI_LLAMA_CACHE` moves it. A missing artifact is rebuilt
deterministically by whoever needs it, so a later chapter can start cold.
"""

import contextlib
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


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    "Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`: a crash never leaves half a file."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_save(obj, path: str | os.PathLike) -> Path:
    "`torch.save` through `atomic_write`."
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


@contextlib.contextmanager
def _locked(path: Path):
    "Hold an exclusive lock on `path` (created if missing) for the `with` block."
    with open(path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_once(path: str | os.PathLike, build: Callable[[Path], None]) -> Path:
    """`path` if it exists, else `build(path)` under a lock beside it: of two processes that need the same missing
    artifact at once (two pytest workers, two notebooks), one builds it and the other waits for it."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f".{path.name}.lock")):
        if not path.exists():
            build(path)
    return path
