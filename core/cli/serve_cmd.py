"""`pa serve`: every profile's agent behind one OpenAI-compatible endpoint (see core/serve)."""

from __future__ import annotations

import typer

from core.cli import common


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-key-env."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0 picks a free one and prints it)."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the key callers must send."
    ),
    max_concurrent: int = typer.Option(
        4, "--max-concurrent", min=1, help="Requests admitted at once; more get HTTP 429."
    ),
    max_request_bytes: int = typer.Option(
        256_000, "--max-request-bytes", min=1024, help="Largest request body accepted."
    ),
    max_tokens: int = typer.Option(
        2048, "--max-tokens-limit", min=16, help="Largest max_tokens a request may ask for."
    ),
    shared_base: bool = typer.Option(
        False, "--shared-base", help="Run agents as LoRA adapters on one loaded base model."
    ),
    log_texts: bool = typer.Option(
        False, "--log-texts", help="Log intents, rules and texts (off: sizes and timings only)."
    ),
) -> None:
    """Serve every profile's agent as model `pa:PROFILE` over the OpenAI chat API."""
    from core.serve.app import run_server
    from core.serve.flow import DraftingFlow
    from core.serve.guard import ServeSettings, read_api_key

    settings = ServeSettings(
        host=host,
        port=port,
        api_key=read_api_key(api_key_env, host),
        max_concurrent=max_concurrent,
        max_request_bytes=max_request_bytes,
        max_tokens_limit=max_tokens,
        log_texts=log_texts,
        shared_base=shared_base,
    )
    workspace = common.open_workspace()
    paths, config = workspace.paths, workspace.config
    pool = None
    if shared_base:
        from core.serve.shared_base import SharedBasePool

        pool = SharedBasePool(paths, config)
    flow = DraftingFlow(paths, config, workspace.store, agent_backend=pool.backend_for if pool else None)
    try:
        run_server(flow, settings, announce=lambda line: print(line, flush=True))
    finally:
        if pool is not None:
            pool.close()  # before interpreter teardown, where llama.cpp's own cleanup fails
        workspace.close()
