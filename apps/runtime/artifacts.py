"""A model directory as an immutable artifact: its content digest and a reproducible tarball."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
import tarfile
import zlib
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


MAX_DEPTH = 32
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_MEMBERS = MAX_FILES + 1_000  # files and folders together


def unpack(archive: io.BufferedIOBase | bytes, target: Path, *, max_bytes: int) -> None:
    """Extract a .tar.gz or .zip upload safely. The whole member list is checked before
    anything is written: how many, how large unpacked, the names (no absolute paths, `..`,
    NUL, over-long names or deep nesting), no links, no name that is both a file and a
    folder; an archive with too many members is refused before its list is even read."""
    data = archive if isinstance(archive, bytes) else archive.read()
    target.mkdir(parents=True, exist_ok=True)
    if data[:2] == b"PK":
        _unzip(data, target, max_bytes)
    else:
        _untar(data, target, max_bytes)
    _lift_single_top_folder(target)


def _untar(data: bytes, target: Path, max_bytes: int) -> None:
    if _tar_has_more_members_than(data, MAX_MEMBERS):
        raise ArtifactError(f"the archive has more than {MAX_FILES} files")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = []
            while (member := tar.next()) is not None:  # read lazily: stop at the limit
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise ArtifactError(f"the archive has more than {MAX_FILES} files")
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise ArtifactError(f"{member.name}: links and special files are not allowed")
            _check_members([(m.name, m.isdir(), m.size) for m in members], max_bytes)
            tar.extractall(target, filter="data")  # noqa: S202 (names checked above)
    except tarfile.FilterError as exc:
        raise ArtifactError(
            f"unsafe archive member {exc.tarinfo.name!r}: it points outside the model directory"
        ) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise ArtifactError("not a valid .tar.gz or .zip archive") from None


TAR_BLOCK = 512
TAR_EXTENSION_TYPES = (b"x", b"g", b"L", b"K")  # pax and GNU headers of the next member
TAR_SCAN_BYTES = 64 << 20


def _tar_has_more_members_than(data: bytes, limit: int) -> bool:
    """Count the headers of a plain or gzipped tar straight from the stream, ten times faster
    than tarfile, so that 100,000 tiny files are refused in milliseconds. Looks at the first
    64 MB only: past that (or for other compressions) tarfile's own reading counts."""
    count = skip = seen = 0
    pending = b""
    try:
        for chunk in _tar_stream(data):
            seen += len(chunk)
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            pending, skip = pending + chunk[skip:], 0
            offset = 0
            while len(pending) - offset >= TAR_BLOCK:
                header = pending[offset : offset + TAR_BLOCK]
                if header.count(0) == TAR_BLOCK:
                    return False
                size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
                if header[156:157] not in TAR_EXTENSION_TYPES:
                    count += 1
                    if count > limit:
                        return True
                offset += TAR_BLOCK + -(-size // TAR_BLOCK) * TAR_BLOCK
            pending, skip = pending[offset:], max(0, offset - len(pending))
            if seen > TAR_SCAN_BYTES:
                return False
    except (zlib.error, ValueError):  # base-256 sizes (over 8 GB), not a tar: tarfile decides
        return False
    return False


def _tar_stream(data: bytes, chunk: int = 1 << 16):
    if data[:2] != b"\x1f\x8b":
        yield from (data[start : start + chunk] for start in range(0, len(data), chunk))
        return
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for start in range(0, len(data), chunk):
        yield stream.decompress(data[start : start + chunk], 16 * chunk)
        while stream.unconsumed_tail:
            yield stream.decompress(stream.unconsumed_tail, 16 * chunk)


def _unzip(data: bytes, target: Path, max_bytes: int) -> None:
    import zipfile

    declared = _zip_entry_count(data)
    if declared is not None and declared > MAX_MEMBERS:
        raise ArtifactError(f"the archive has more than {MAX_FILES} files")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArtifactError(f"the archive has more than {MAX_FILES} files")
            _check_members([(i.filename, i.is_dir(), i.file_size) for i in infos], max_bytes)
            archive.extractall(target)  # noqa: S202 (names checked above)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError):
        raise ArtifactError("not a valid .tar.gz or .zip archive") from None
    except (OSError, EOFError, zlib.error):
        raise ArtifactError("not a valid .tar.gz or .zip archive") from None


def _zip_entry_count(data: bytes) -> int | None:
    """The entry count of the end-of-central-directory record, read without parsing the
    central directory (100,000 entries take half a second to parse); None if not found."""
    position = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if position == -1 or len(data) < position + 22:
        return None
    (count,) = struct.unpack_from("<H", data, position + 10)
    return count  # 0xFFFF (ZIP64: at least that many) is past the limit too


def _check_members(members: list[tuple[str, bool, int]], max_bytes: int) -> None:
    """Refuse the archive unless every member can be written inside the target as named."""
    total = 0
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for name, is_dir, size in members:
        total += size
        if total > max_bytes:
            raise ArtifactError(f"the archive unpacks to more than {max_bytes} bytes")
        parts = _member_parts(name)
        if not parts:
            continue  # "./" and the like: the top folder itself
        for depth in range(1, len(parts)):
            folders.add(parts[:depth])
        if is_dir:
            folders.add(parts)
        elif parts in files:
            raise ArtifactError(f"{name!r} appears twice in the archive")
        else:
            files.add(parts)
    if clash := min(files & folders, default=None):
        raise ArtifactError(
            f"{'/'.join(clash)!r} is both a file and a folder in the archive; rename one of them"
        )


def _member_parts(name: str) -> tuple[str, ...]:
    shown = repr(name[:100])
    if "\0" in name:
        raise ArtifactError(f"unsafe archive member {shown}: the name contains a NUL character")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ArtifactError(f"archive member {shown}…: the path is longer than {MAX_PATH_BYTES}")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArtifactError(f"unsafe archive member {shown}: absolute paths are not allowed")
    parts = tuple(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArtifactError(f"unsafe archive member {shown}: it points outside the model directory")
    if len(parts) > MAX_DEPTH:
        raise ArtifactError(f"archive member {shown}: nested more than {MAX_DEPTH} folders deep")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        raise ArtifactError(f"archive member {shown}: a name is longer than {MAX_NAME_BYTES} bytes")
    return parts


def _lift_single_top_folder(target: Path) -> None:
    """`model/cog.yaml` inside the archive counts as `cog.yaml`, as people zip folders."""
    entries = [p for p in target.iterdir() if p.name not in IGNORED_FILES]
    if len(entries) == 1 and entries[0].is_dir() and not (target / "cog.yaml").exists():
        # Renamed first: the folder may hold a member of its own name (`model/model`).
        inner = entries[0].rename(target / f".lifting-{secrets.token_hex(8)}")
        for child in inner.iterdir():
            child.rename(target / child.name)
        inner.rmdir()
    if not (target / "cog.yaml").exists():
        deeper = next(iter(sorted(target.glob("*/**/cog.yaml"))), None)
        if deeper is not None:
            raise ArtifactError(
                f"cog.yaml must be at the top of the archive (or inside one folder), "
                f"not at {deeper.relative_to(target).as_posix()}"
            )
