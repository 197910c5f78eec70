"""Why an export, backup or restore was refused."""

from __future__ import annotations

from topline.errors import Conflict, InvalidInput


class BackupDamaged(InvalidInput):
    """The backup file is not a complete Topline backup: truncated, altered or not one at all."""

    code = "backup_damaged"


class BackupIncompatible(Conflict):
    """The backup was made by a Topline whose database schema differs from this one's."""

    code = "backup_incompatible"


class DatabaseNotEmpty(Conflict):
    """A restore goes only into an empty database; this one holds data."""

    code = "database_not_empty"


class ExportTargetExists(Conflict):
    """The file or directory to export into already holds something; nothing is overwritten."""

    code = "export_target_exists"
