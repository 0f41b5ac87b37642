"""One module per screen of `pa-tui`."""
