"""Identity and permissions: principals (``principal``), OIDC bearer tokens
(``oidc``), API keys (``apikeys``), the request authenticator and middleware
(``middleware``) and the permission rules (``access``).

Kept import-free on purpose: ``gateway.auth.principal`` is imported by the
governance layer, which must not pull in the HTTP stack."""
