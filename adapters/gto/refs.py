"""GTO's own references to a model version, for the lineage resolver.

Two forms, both with GTO's artifact grammar and a ``v``-prefixed semver:

- ``<repo-url>:<artifact>@v1.2.0`` names the repository: it belongs to the gto
  registry configured with exactly that ``repo``.
- ``<artifact>@v1.2.0`` (the form GTO prints and ``meta.parent`` usually holds)
  names none: a *weak* reference, resolved in the referencing version's own
  registry (or the only registry that has the artifact).

``<artifact>@v1.2.0`` is the registration tag's name: GTO uses it as a
reference itself. Stage shortcuts (``churn#prod``) move, so they are not
lineage references.
"""

from __future__ import annotations

import re

from adapters.base import ReferenceMatch
from adapters.gto.mapping import VERSION_REF, model_name_of
from adapters.gto.tags import FULLNAME, SEMVER
from gateway.config import RegistrySettings

# A repository URL, then ``:``, then a bare reference (the URL itself may hold ``:``).
QUALIFIED = re.compile(rf"^(?P<repo>(?:[a-z+]+://|[\w.-]+@[\w.-]+:)\S+?):(?P<ref>{FULLNAME}@v{SEMVER})$")


class GtoReferences:
    def is_reference(self, text: str) -> bool:
        return bool(VERSION_REF.match(text) or QUALIFIED.match(text))

    def parse_reference(self, text: str, registry: RegistrySettings) -> ReferenceMatch | None:
        repo = str(registry.options.get("repo") or "")
        weak = True
        ref = text
        if repo and text.startswith(f"{repo}:"):
            ref, weak = text[len(repo) + 1 :], False
        elif QUALIFIED.match(text) and not VERSION_REF.match(text):
            return None  # another repository's artifact
        match = VERSION_REF.match(ref)
        if not match:
            return None
        return ReferenceMatch(model_name_of(match["artifact"]), match["version"], weak=weak)
