"""Topline: self-hosted sales management for sales managers and their teams."""

__version__ = "0.1.0"
