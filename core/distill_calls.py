"""Which journal row a distillation model call answers, for backends that need to know.

`core.distill` sets `CURRENT_CALL` just before it asks for a stage's answer; the batch path
(`core.distill_batch`) reads it to name each request by its journal key.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class CallKey:
    document_id: int
    stage: str
    slot: int
    attempt: int
    template_id: str
    template_version: int
    temperature: float | None


CURRENT_CALL: contextvars.ContextVar[CallKey | None] = contextvars.ContextVar("pa_distill_call", default=None)
"""Set while a stage's answer is asked for (per asyncio task), so a backend can tell which row it fills."""
