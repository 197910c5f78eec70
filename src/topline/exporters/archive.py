"""Reading a backup archive: its manifest, checksums, and Parquet members read in place."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from topline.errors import InvalidInput
from topline.exporters.errors import BackupDamaged
from topline.exporters.manifest import MANIFEST_NAME, Manifest, TableFile

HASH_CHUNK_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, …, file name length, extra field length
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError)


class BackupArchive:
    """An open backup archive (a context manager). Opening it reads and parses the manifest;
    every problem is raised as `BackupDamaged` (or `InvalidInput` for a missing file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.origin = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError as exc:
            raise InvalidInput(f"no backup file at {path}") from exc
        except _ZIP_ERRORS as exc:
            raise BackupDamaged(
                f"{path} is not a Topline backup: not a complete zip archive (truncated or "
                "damaged?)"
            ) from exc
        self._map: Any = None
        try:
            self.manifest = self._read_manifest()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> BackupArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._map is not None:
            self._map.close()
        self.zip.close()

    def _read_manifest(self) -> Manifest:
        try:
            text = self.zip.read(MANIFEST_NAME)
        except KeyError as exc:
            raise BackupDamaged(
                f"{self.origin} is not a Topline backup: it has no {MANIFEST_NAME}"
            ) from exc
        except _ZIP_ERRORS as exc:
            raise BackupDamaged(f"{self.origin} is damaged: {MANIFEST_NAME} is unreadable") from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise BackupDamaged(f"{self.origin} is damaged: {MANIFEST_NAME} is not JSON") from exc
        return Manifest.from_json(document, origin=self.origin)

    def verify(self) -> None:
        """Check that every table's file is present, whole and unaltered (by its SHA-256)."""
        for table in self.manifest.tables:
            info = self._info(table)
            digest = hashlib.sha256()
            try:
                source = self._source(info)
                while chunk := source.read(HASH_CHUNK_BYTES):
                    digest.update(chunk)
            except _ZIP_ERRORS as exc:
                raise BackupDamaged(
                    f"{self.origin} is damaged: {table.file} is unreadable; nothing was restored"
                ) from exc
            if info.file_size != table.bytes or digest.hexdigest() != table.sha256:
                raise BackupDamaged(
                    f"{self.origin} is damaged: {table.file} does not match its checksum in the "
                    "manifest; nothing was restored"
                )

    def parquet(self, table: TableFile) -> Any:
        """The table's file as a pyarrow `ParquetFile`."""
        return pq.ParquetFile(self._source(self._info(table)))

    def _info(self, table: TableFile) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(table.file)
        except KeyError as exc:
            raise BackupDamaged(
                f"{self.origin} is damaged: {table.file} is missing; nothing was restored"
            ) from exc

    def _source(self, info: zipfile.ZipInfo) -> Any:
        """A readable, seekable source of a member's bytes.

        Stored members (every backup Topline writes) are read in place through a memory map:
        Parquet readers seek back and forth, which a zip stream can only do by reading again
        from the member's start. Other members (a backup zipped again by hand) are streamed.
        """
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return self.zip.open(info)
        if self._map is None:
            self._map = pa.memory_map(str(self.path))
        self._map.seek(self._data_offset(info))
        return pa.BufferReader(self._map.read_buffer(info.file_size))

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where a member's data starts: after its local header, whose extra field may differ
        in length from the one in the central directory."""
        with self.path.open("rb") as handle:
            handle.seek(info.header_offset)
            header = handle.read(_LOCAL_HEADER.size)
            end = handle.seek(0, os.SEEK_END)
        if len(header) != _LOCAL_HEADER.size:
            raise BackupDamaged(f"{self.origin} is truncated inside {info.filename}")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != b"PK\x03\x04":
            raise BackupDamaged(f"{self.origin} is damaged around {info.filename}")
        start = int(info.header_offset) + _LOCAL_HEADER.size + int(name_length) + int(extra_length)
        if start + info.file_size > end:
            raise BackupDamaged(f"{self.origin} is truncated inside {info.filename}")
        return start
