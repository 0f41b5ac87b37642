"""Corpus import: one reader per format, email parsing and cleaning, and the import pipeline.

`import_corpus(store, path, ImportOptions(profile=...))` is the entry point the CLI and the TUI
call; it reports progress through `core.events` and never prints.
"""

from core.corpus.pipeline import ImportOptions, ImportReport, import_corpus, open_source, preview_import
from core.corpus.records import Candidate, Dropped

__all__ = ["Candidate", "Dropped", "ImportOptions", "ImportReport", "import_corpus", "open_source", "preview_import"]
