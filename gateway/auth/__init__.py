"""Identity and permissions: principals (``principal``), OIDC bearer tokens
(``oidc``), API keys (``apikeys``) and the permission rules (``access``). The
request authenticator and its middleware speak HTTP, so they live above the
core in ``gateway.http_auth``.

Kept import-free on purpose: ``gateway.auth.principal`` is imported by the
governance layer, which must not pull in the HTTP stack."""
