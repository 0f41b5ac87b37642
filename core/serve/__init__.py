"""`pa serve`: every profile's preference agent behind one OpenAI-compatible HTTP endpoint.

`flow` is the one adapter to pa's drafting use case, `wire` the OpenAI request/response
format, `guard` the safety limits (key, sizes, concurrency), `app` the HTTP routes, and
`shared_base` serves many profiles' LoRA adapters on one loaded base model. The server stack
(starlette, uvicorn) is imported only by `app`, so `pa --help` never loads it.
"""
