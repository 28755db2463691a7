"""A model directory as an immutable artifact: its content digest and a reproducible tarball."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

IGNORED_DIRS = {
    ".cog",
    ".git",
    "__pycache__",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    ".ipynb_checkpoints",
}
IGNORED_FILES = {".DS_Store"}
MAX_FILES = 10_000


class ArtifactError(ValueError):
    pass


def model_files(model_dir: Path) -> list[Path]:
    """The files that make up a version, as sorted paths relative to model_dir."""
    files = []
    for root, dirs, names in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(names):
            path = Path(root) / name
            if name in IGNORED_FILES or name.endswith(".pyc"):
                continue
            if path.is_symlink():
                raise ArtifactError(
                    f"{path.relative_to(model_dir)} is a symbolic link; "
                    "copy the file itself into the model directory"
                )
            files.append(path.relative_to(model_dir))
            if len(files) > MAX_FILES:
                raise ArtifactError(f"the model directory has more than {MAX_FILES} files")
    return files


def digest(model_dir: Path) -> str:
    """sha256 over every file's path and content: the version id."""
    outer = hashlib.sha256()
    for relative in model_files(model_dir):
        inner = hashlib.sha256()
        with open(model_dir / relative, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(relative.as_posix().encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()


def pack(model_dir: Path) -> bytes:
    """A gzipped tarball of the model files with fixed metadata, so equal content packs equal."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for relative in model_files(model_dir):
            info = tar.gettarinfo(str(model_dir / relative), arcname=relative.as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            with open(model_dir / relative, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def unpack(archive: io.BufferedIOBase | bytes, target: Path, *, max_bytes: int) -> None:
    """Extract a .tar.gz or .zip upload safely (no absolute paths, links or escapes)."""
    data = archive if isinstance(archive, bytes) else archive.read()
    target.mkdir(parents=True, exist_ok=True)
    if data[:2] == b"PK":
        _unzip(data, target, max_bytes)
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            total = 0
            for member in tar.getmembers():
                total += member.size
                if total > max_bytes:
                    raise ArtifactError(f"the archive unpacks to more than {max_bytes} bytes")
                if not (member.isfile() or member.isdir()):
                    raise ArtifactError(f"{member.name}: links and special files are not allowed")
            tar.extractall(target, filter="data")  # noqa: S202 (the data filter refuses escapes)
    except tarfile.FilterError as exc:
        raise ArtifactError(
            f"unsafe archive member {exc.tarinfo.name!r}: it points outside the model directory"
        ) from None
    except (tarfile.TarError, OSError, EOFError):
        raise ArtifactError("not a valid .tar.gz or .zip archive") from None
    _lift_single_top_folder(target)


def _unzip(data: bytes, target: Path, max_bytes: int) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > max_bytes:
                raise ArtifactError(f"the archive unpacks to more than {max_bytes} bytes")
            root = target.resolve()
            for info in archive.infolist():
                destination = (target / info.filename).resolve()
                if root != destination and root not in destination.parents:
                    raise ArtifactError(f"{info.filename}: path escapes the archive")
            archive.extractall(target)  # noqa: S202 (paths checked above)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ArtifactError("not a valid .tar.gz or .zip archive") from None
    _lift_single_top_folder(target)


def _lift_single_top_folder(target: Path) -> None:
    """`model/cog.yaml` inside the archive counts as `cog.yaml`, as people zip folders."""
    entries = [p for p in target.iterdir() if p.name not in IGNORED_FILES]
    if len(entries) == 1 and entries[0].is_dir() and not (target / "cog.yaml").exists():
        inner = entries[0]
        for child in inner.iterdir():
            child.rename(target / child.name)
        inner.rmdir()
