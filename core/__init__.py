"""Headless core of `pa`: corpus, store, model backends, distillation, drafting, evaluation.

Nothing in this package imports textual, torch, transformers, peft or llama_cpp at module load.
"""

__version__ = "0.1.0"
