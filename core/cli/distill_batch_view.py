"""`pa distill --batch-import/--batch-export`: the batch path of distillation on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli import common

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Profile, Store


def run_batch(
    store: Store,
    profile: Profile,
    config: Config,
    spec: str,
    import_file: Path | None,
    export_file: Path | None,
    *,
    as_json: bool,
    **options: Any,
) -> None:
    """Import first (answers into the journal, the run continued), then export what is pending."""
    from core.distill_batch import export_batch, import_batch

    result: dict[str, Any] = {"profile": profile.name, "model": spec}
    if import_file is not None:
        summary = import_batch(store, profile, config, spec, import_file, **options)
        result["import"] = {
            "file": str(import_file),
            "imported": summary.imported,
            "already_in_journal": summary.already,
            "unknown": summary.unknown,
            "errors": summary.errors,
            "pending": summary.pending,
        }
        if not as_json:
            common.console.print(
                f"imported {summary.imported} answers from {import_file} ({summary.already} were already in the journal, "
                f"{summary.unknown} not pending for {profile.name!r} with {spec}, {len(summary.errors)} engine errors); "
                f"{summary.pending} calls pending",
                highlight=False,
            )
            for error in summary.errors[:10]:
                common.console.print(f"[red]not imported[/] {error}", highlight=False)
    if export_file is not None:
        written = export_batch(store, profile, config, spec, export_file, **options)
        result["export"] = {"file": str(export_file), "calls": written}
        if not as_json:
            if written:
                common.console.print(
                    f"wrote {written} pending calls to {export_file}; run them on a batch engine and bring the output back "
                    f"with `pa distill --profile {profile.name} --batch-import OUTPUT.jsonl`",
                    highlight=False,
                )
            else:
                common.console.print(
                    f"no call is pending for {profile.name!r}: distillation is complete (see `pa rules show`)",
                    highlight=False,
                )
    if as_json:
        common.print_json(result)
