"""Registry-neutral plumbing every adapter shares, one idea per module.

- ``http``: the httpx client and the JSON-over-HTTP client on it, capped body
  reads, error bodies → errors, registry URLs checked as the config gives them;
- ``auth``: bearer tokens from a value or file, one refreshing OAuth token, key files;
- ``retry``: jittered retries of idempotent reads inside a deadline;
- ``paging``: page tokens, following pages, listing answers of the documented shape;
- ``errors``: HTTP statuses → the shared ``RegistryError`` taxonomy;
- ``timestamps``: registry timestamps → aware UTC;
- ``blocking``: blocking client calls off the event loop.

None of it knows a registry kind or the adapter protocol (``adapters.base``).
"""
