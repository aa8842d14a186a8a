"""MLflow's search filter grammar, tokenised and parsed (no regular expression over
the whole string), into what the catalogue search understands:

    filter     := comparison ( AND comparison )*
    comparison := key op value
    key        := name | run_id | tags.<k> | tags.`k` | `name` ...
    op         := = | != | LIKE | ILIKE | IN
    value      := 'text' | "text" | ( 'text' , ... )   (IN takes a list)

Supported: ``name`` with ``=``, ``!=``, ``LIKE``, ``ILIKE``; ``tags.<key>`` (or
``tag.<key>``) with ``=`` and ``!=``; ``run_id`` with ``=`` and ``IN`` (model
versions only). Anything else is ``INVALID_PARAMETER_VALUE`` naming what is
wrong, as MLflow's server answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.catalogue.query import NameMatch
from gateway.mlflow_api.errors import invalid

# MLflow's client itself sends ``tag.`mlflow.prompt.is_prompt` != 'true'`` (prompts are
# registered models it leaves out of model searches): both spellings are MLflow's.
TAG_PREFIXES = ("tags.", "tag.")
KEYWORDS = frozenset({"AND", "LIKE", "ILIKE", "IN", "NOT"})
MAX_FILTER_CHARS = 10_000


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | lparen | rparen | comma
    text: str
    at: int


@dataclass(frozen=True)
class ParsedFilter:
    names: tuple[NameMatch, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    tags_not: tuple[tuple[str, str], ...] = ()  # no such tag with that value
    run_ids: tuple[frozenset[str], ...] = ()  # each condition's allowed ids (all must hold)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "'\"`":
            end = text.find(c, i + 1)
            if end < 0:
                raise invalid(f"Invalid filter: unterminated {c} starting at position {i}")
            tokens.append(Token("quoted" if c == "`" else "string", text[i + 1 : end], i))
            i = end + 1
        elif c in "(),":
            tokens.append(Token({"(": "lparen", ")": "rparen", ",": "comma"}[c], c, i))
            i += 1
        elif c == "=":
            tokens.append(Token("op", "=", i))
            i += 1
        elif text.startswith("!=", i):
            tokens.append(Token("op", "!=", i))
            i += 2
        elif c.isalnum() or c in "_.":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            # tags.`key with spaces`: the dotted prefix and the quoted key are one key
            if text[start:i].endswith(".") and i < n and text[i] in "`\"'":
                end = text.find(text[i], i + 1)
                if end < 0:
                    raise invalid(f"Invalid filter: unterminated {text[i]} starting at position {i}")
                tokens.append(Token("word", text[start:i] + text[i + 1 : end], start))
                i = end + 1
            else:
                tokens.append(Token("word", text[start:i], start))
        else:
            raise invalid(f"Invalid filter: unexpected character {c!r} at position {i}")
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], *, versions: bool):
        self.tokens = tokens
        self.i = 0
        self.versions = versions

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> Token:
        token = self.peek()
        if token is None:
            raise invalid(f"Invalid filter: expected {what} at the end")
        self.i += 1
        return token

    def parse(self) -> ParsedFilter:
        names: list[NameMatch] = []
        tags: list[tuple[str, str]] = []
        tags_not: list[tuple[str, str]] = []
        run_ids: list[frozenset[str]] = []
        while True:
            key, op, values = self.comparison()
            if key == "name":
                names.append(NameMatch(op, values[0]))
            elif key.startswith(TAG_PREFIXES):
                tag = (key.partition(".")[2], values[0])
                (tags if op == "=" else tags_not).append(tag)
            else:
                run_ids.append(frozenset(values))
            token = self.peek()
            if token is None:
                return ParsedFilter(tuple(names), tuple(tags), tuple(tags_not), tuple(run_ids))
            if token.kind != "word" or token.text.upper() != "AND":
                raise invalid(f"Invalid filter: expected AND at position {token.at}, got {token.text!r}")
            self.i += 1

    def comparison(self) -> tuple[str, str, list[str]]:
        token = self.take("a key")
        if token.kind not in ("word", "quoted") or token.text.upper() in KEYWORDS:
            raise invalid(f"Invalid filter: expected a key at position {token.at}, got {token.text!r}")
        key = token.text
        allowed: tuple[str, ...]
        if key.startswith(TAG_PREFIXES) and key.partition(".")[2]:
            allowed = ("=", "!=")
        elif key == "name":
            allowed = ("=", "!=", "LIKE", "ILIKE")
        elif key == "run_id" and self.versions:
            allowed = ("=", "IN")
        else:
            raise invalid(f"Invalid filter: unsupported key {key!r}")
        op_token = self.take("a comparator")
        op = op_token.text.upper()
        if op_token.kind not in ("op", "word") or op not in allowed:
            raise invalid(
                f"Invalid filter: comparator {op_token.text!r} is not supported for {key!r} "
                f"(supported: {', '.join(allowed)})"
            )
        if op == "IN":
            return key, "=", self.value_list()
        value = self.take("a value")
        if value.kind != "string":
            raise invalid(f"Invalid filter: expected a quoted value at position {value.at}")
        return key, op, [value.text]

    def value_list(self) -> list[str]:
        if self.take("(").kind != "lparen":
            raise invalid("Invalid filter: IN takes a parenthesised list of quoted values")
        values: list[str] = []
        while True:
            value = self.take("a value")
            if value.kind != "string":
                raise invalid(f"Invalid filter: expected a quoted value at position {value.at}")
            values.append(value.text)
            sep = self.take(") or ,")
            if sep.kind == "rparen":
                return values
            if sep.kind != "comma":
                raise invalid(f"Invalid filter: expected , or ) at position {sep.at}")


def parse_filter(text: str | None, *, versions: bool = False) -> ParsedFilter:
    """The conditions of a ``search_registered_models`` (or, with ``versions``,
    ``search_model_versions``) filter string; empty: no condition."""
    if text is None or not text.strip():
        return ParsedFilter()
    if len(text) > MAX_FILTER_CHARS:
        raise invalid(f"Invalid filter: longer than {MAX_FILTER_CHARS} characters")
    return _Parser(tokenize(text), versions=versions).parse()
