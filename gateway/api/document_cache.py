"""The parse and validation cache of GraphQL documents, bounded in bytes.

An entry count is no bound on memory: a parsed document costs about 600 bytes
per lexical token (each token, name, node and location is an object; measured
with tracemalloc on graphql-core 3.3: 560-620 B/token for field selections,
360-380 B/token for argument lists), so 256 entries of 5,000-token documents
were about 800 MB. Entries are weighed by that estimate instead, least recently
used go first, and a document that alone would take more than a quarter of the
budget is not kept at all (parsing it again costs milliseconds; evicting every
other entry for it would not pay).

Validation results are kept only for documents that validated: remembering a
client's mistakes (thousands of errors each, with their nodes) would let the
mistakes fill the cache, and a valid document needs only the fact.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, field

from graphql import DocumentNode

# Estimated bytes a parsed document keeps alive per lexical token (see above, rounded up).
BYTES_PER_TOKEN = 700
# Bytes of one entry besides its document: the entry, its key slot, a few shapes.
ENTRY_OVERHEAD = 1024
# Shapes (depth/aliases/cost) kept per document: one per distinct set of integer variables.
SHAPES_PER_DOCUMENT = 8


def token_count(document: DocumentNode) -> int:
    """Lexical tokens of a parsed document (graphql-core links them from its location)."""
    token = document.loc.start_token if document.loc else None
    count = 0
    while token is not None:
        count += 1
        token = token.next
    return count


def document_weight(query: str, document: DocumentNode) -> int:
    """Estimated bytes an entry for ``query`` keeps alive."""
    return sys.getsizeof(query) + BYTES_PER_TOKEN * token_count(document) + ENTRY_OVERHEAD


@dataclass(frozen=True)
class Shape:
    """What ``gateway.api.limits`` measured of a document: the cache keeps it beside the document."""

    depth: int
    aliases: int
    cost: int


@dataclass
class CachedDocument:
    document: DocumentNode
    weight: int
    valid: bool = False  # validated without errors
    shapes: dict[str, Shape] = field(default_factory=dict)

    def shape(self, key: str) -> Shape | None:
        return self.shapes.get(key)

    def remember_shape(self, key: str, shape: Shape) -> None:
        if len(self.shapes) >= SHAPES_PER_DOCUMENT:
            self.shapes.pop(next(iter(self.shapes)))
        self.shapes[key] = shape


class DocumentCache:
    """Documents by query text, least recently used first, within ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: str) -> CachedDocument | None:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
        return entry

    def put(self, query: str, document: DocumentNode) -> CachedDocument:
        """An entry for ``document``; cached only if it fits a quarter of the budget."""
        entry = CachedDocument(document, document_weight(query, document))
        if entry.weight > self.max_bytes // 4:
            return entry
        old = self._entries.pop(query, None)
        if old is not None:
            self.bytes -= old.weight
        self._entries[query] = entry
        self.bytes += entry.weight
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.weight
        return entry
