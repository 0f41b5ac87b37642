"""Model backends behind one protocol (`core.llm.base.Backend`)."""
