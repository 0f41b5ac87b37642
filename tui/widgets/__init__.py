"""Reusable widgets of `pa-tui`."""
