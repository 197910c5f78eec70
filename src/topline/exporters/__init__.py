"""Exports: lists and reports as CSV, XLSX or Parquet; whole-org exports, backups and restores.

`tables` writes rows to a file format (safe against spreadsheet formula injection); `backup`
exports every table with a manifest, makes backup archives and restores them.
"""
