"""Evidence packs: one document per version an auditor reads without a GraphQL
client (``GET /reports/evidence``, ``modelgate evidence``), as HTML or PDF."""
