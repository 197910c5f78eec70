"""Imports from other CRMs and spreadsheets: read, map, check, then write all rows or none."""
