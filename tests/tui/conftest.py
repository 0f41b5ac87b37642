"""Fixtures for the TUI tests: a store with fixture profiles, and an app bound to PA_HOME."""

from __future__ import annotations

import pytest

from core.paths import resolve_paths
from core.store import Store


@pytest.fixture
def store(pa_home) -> Store:
    opened = Store.open(resolve_paths().store_file)
    yield opened
    opened.close()


@pytest.fixture
def make_app(pa_home):
    """An app on the test's PA_HOME (call it after preparing the store)."""
    from tui.app import PaApp
    from tui.session import Session

    def make(profile: str | None = None) -> PaApp:
        session = Session()
        if profile is not None:
            session.choose_profile(profile)
        return PaApp(session)

    return make


@pytest.fixture(scope="session")
def tui_large_model():
    """The embedded SmolLM2, loaded once for every TUI test that drafts."""
    from core.config import Config
    from core.llm.specs import open_backend

    backend = open_backend("embedded", Config())
    backend.load()
    return backend
