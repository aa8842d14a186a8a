"""A fake Hugging Face Hub: the REST routes ``huggingface_hub.HfApi`` and modelgate call.

Shaped like the real Hub (checked against huggingface_hub 2.x's ``hf_api.py``,
``_commit_api.py`` and ``utils/_pagination.py``): repositories are created with
``POST /api/repos/create`` (409 with the repository's ``url`` when it exists),
files are committed with ``preupload`` + an ndjson ``commit`` (small files inline,
base64), tags are created with ``POST …/tag/{rev}`` (409 when the tag exists; the
Hub cannot move a tag) and deleted with ``DELETE …/tag/{tag}``. Model listings
page with ``limit`` and a ``cursor`` in a ``Link: <…>; rel="next"`` header. A
repository's info at a revision carries the README's YAML front matter as
``cardData`` (and ``model-index`` beside it), ``sha`` the commit, and
``lastModified`` that commit's date. Errors carry ``X-Error-Code`` /
``X-Error-Message`` and ``{"error": …}``, as ``hf_raise_for_status`` reads them.

**Every answer modelgate and the client read is parsed with the client's own
response types** (``ModelInfo``, ``GitRefInfo``/``GitRefs``, ``CommitInfo``'s
fields); a body they reject, or a request outside the shapes the client sends, is
recorded in ``violations`` and answered 500, and the test fixture fails.

Test switches: ``tokens`` (accepted bearer tokens; anonymous reads of public
repositories are allowed, writes are not), ``throttle_next`` (answer that many
requests 429 with ``RateLimit`` headers), ``fail_next`` (statuses to answer next),
``fail_tag_create`` (statuses for the next tag creations), ``max_limit`` (the
largest listing page).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

import yaml
from huggingface_hub.hf_api import GitRefInfo, ModelInfo
from huggingface_hub.repocard_data import ModelCardData
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Json = dict[str, Any]
MAX_LIMIT = 1000


@dataclass
class Commit:
    oid: str
    date: datetime
    files: dict[str, bytes]
    summary: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    created_at: datetime
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name → commit oid
    tags: dict[str, str] = field(default_factory=dict)  # name → commit oid

    @property
    def main(self) -> Commit:
        return self.commits[self.branches["main"]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    authorized: bool


class HubError(Exception):
    def __init__(self, status: int, code: str, message: str, **body: Any):
        self.status, self.code, self.message, self.body = status, code, message, body


def card_data(readme: bytes | None) -> Json | None:
    """The README's YAML front matter, as the Hub parses it into ``cardData``."""
    if not readme:
        return None
    text = readme.decode("utf-8", "replace")
    if not text.startswith("---"):
        return None
    _, _, rest = text.partition("\n")
    front, sep, _ = rest.partition("\n---")
    if not sep:
        return None
    data = yaml.safe_load(front)
    return data if isinstance(data, dict) else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeHub:
    def __init__(self, *, tokens: set[str] | None = None, user: str = "modelgate-tests"):
        self.tokens = set(tokens or ())
        self.user = user
        self.repos: dict[str, Repo] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.base_url = ""  # set by the server fixture: Link URLs are absolute
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._ids = itertools.count(1)
        self.reset_switches()

    def reset_switches(self) -> None:
        self.throttle_next = 0
        self.fail_next: list[int] = []
        self.fail_tag_create: list[int] = []
        self.max_limit = MAX_LIMIT  # the largest page the listing answers (the Hub caps ``limit``)

    # --- state -----------------------------------------------------------------

    def _tick(self) -> datetime:
        self._clock += timedelta(seconds=1)  # every change a distinct, later second
        return self._clock

    def _repo(self, namespace: str, name: str) -> Repo:
        repo = self.repos.get(f"{namespace}/{name}")
        if repo is None:
            raise HubError(404, "RepoNotFound", "Repository not found")
        return repo

    def _commit_of(self, repo: Repo, revision: str) -> Commit:
        oid = repo.branches.get(revision) or repo.tags.get(revision) or revision
        if oid not in repo.commits:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo.commits[oid]

    # --- answers ---------------------------------------------------------------

    def model_json(self, repo: Repo, commit: Commit, *, full: bool = True) -> Json:
        card = card_data(commit.files.get("README.md")) or {}
        tags: list[str] = []
        if isinstance(card.get("library_name"), str):
            tags.append(card["library_name"])
        tags += [t for t in card.get("tags") or [] if isinstance(t, str)]
        if isinstance(card.get("license"), str):
            tags.append(f"license:{card['license']}")
        bases = card.get("base_model")
        for base in [bases] if isinstance(bases, str) else bases or []:
            tags.append(f"base_model:{base}")
        for dataset in card.get("datasets") or []:
            tags.append(f"dataset:{dataset}")
        body: Json = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/", 1)[0],
            "sha": commit.oid,
            "lastModified": _iso(commit.date),
            "createdAt": _iso(repo.created_at),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
        }
        if isinstance(card.get("pipeline_tag"), str):
            body["pipeline_tag"] = card["pipeline_tag"]
        if isinstance(card.get("library_name"), str):
            body["library_name"] = card["library_name"]
        if full:
            body["cardData"] = card or None
            body["siblings"] = [{"rfilename": path} for path in sorted(commit.files)]
            body["spaces"] = []
            body["usedStorage"] = sum(len(b) for b in commit.files.values())
            if "model-index" in card:
                body["model-index"] = card["model-index"]
        if not body.get("cardData"):
            body.pop("cardData", None)
        return self._checked_model(body)

    def _checked_model(self, body: Json) -> Json:
        """The client must be able to read it: ``ModelInfo(**body)`` as ``model_info`` does."""
        try:
            ModelInfo(**{**body, "siblings": body.get("siblings")})
        except Exception as exc:  # any failure is the fake's own bug
            raise self._violation(f"ModelInfo rejects the fake's answer: {exc!r}") from None
        return body

    def _violation(self, text: str) -> HubError:
        self.violations.append(text)
        return HubError(500, "FakeViolation", text)

    def refs_json(self, repo: Repo) -> Json:
        def ref(kind: str, name: str, oid: str) -> Json:
            item = {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}
            try:
                GitRefInfo(name=item["name"], ref=item["ref"], target_commit=item["targetCommit"])
            except Exception as exc:
                raise self._violation(f"GitRefInfo rejects {item}: {exc!r}") from None
            return item

        return {
            "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
            "converts": [],
            "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
        }

    # --- routes ----------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/api/whoami-v2", self._guard(self.whoami), methods=["GET"]),
            Route("/api/repos/create", self._guard(self.create_repo), methods=["POST"]),
            Route("/api/validate-yaml", self._guard(self.validate_yaml), methods=["POST"]),
            Route("/api/models", self._guard(self.list_models), methods=["GET"]),
            Route("/api/models/{ns}/{name}", self._guard(self.model_info), methods=["GET"]),
            Route(
                "/api/models/{ns}/{name}/revision/{rev:path}", self._guard(self.model_info), methods=["GET"]
            ),
            Route("/api/models/{ns}/{name}/refs", self._guard(self.refs), methods=["GET"]),
            Route(
                "/api/models/{ns}/{name}/preupload/{rev:path}", self._guard(self.preupload), methods=["POST"]
            ),
            Route("/api/models/{ns}/{name}/commit/{rev:path}", self._guard(self.commit), methods=["POST"]),
            Route("/api/models/{ns}/{name}/tag/{rev:path}", self._guard(self.create_tag), methods=["POST"]),
            Route("/api/models/{ns}/{name}/tag/{rev:path}", self._guard(self.delete_tag), methods=["DELETE"]),
            Route(
                "/{ns}/{name}/resolve/{rev}/{path:path}", self._guard(self.resolve), methods=["GET", "HEAD"]
            ),
        ]
        return Starlette(routes=routes)

    def _guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            authorized = token is not None and token in self.tokens
            self.requests.append(
                RecordedRequest(request.method, request.url.path, request.url.query, authorized)
            )
            try:
                if self.throttle_next > 0:
                    self.throttle_next -= 1
                    return JSONResponse(
                        {"error": "You have exceeded our rate limit of API requests."},
                        status_code=429,
                        headers={
                            "RateLimit": '"api";r=0;t=1',
                            "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
                            "X-Error-Message": "Rate limit exceeded",
                        },
                    )
                if self.fail_next:
                    raise HubError(self.fail_next.pop(0), "InjectedFailure", "injected failure")
                if token is not None and not authorized:
                    raise HubError(401, "InvalidCredentials", "Invalid credentials in Authorization header")
                request.state.authorized = authorized
                return await handler(request)
            except HubError as exc:
                if exc.code == "RepoNotFound" and not authorized:
                    exc.status = 401  # the Hub does not tell an anonymous caller what exists
                headers = {"X-Error-Code": exc.code, "X-Error-Message": exc.message}
                return JSONResponse(
                    {"error": exc.message, **exc.body}, status_code=exc.status, headers=headers
                )

        return endpoint

    def _writable(self, request: Request) -> None:
        if not request.state.authorized:
            raise HubError(401, "InvalidCredentials", "Invalid username or password.")

    def _readable(self, request: Request, repo: Repo) -> None:
        if repo.private and not request.state.authorized:  # the Hub hides private repositories
            raise HubError(404, "RepoNotFound", "Repository not found")

    async def whoami(self, request: Request) -> Response:
        if not request.state.authorized:
            raise HubError(401, "InvalidCredentials", "Invalid credentials in Authorization header")
        orgs = sorted({r.split("/", 1)[0] for r in self.repos} - {self.user})
        return JSONResponse({"type": "user", "name": self.user, "orgs": [{"name": o} for o in orgs]})

    async def create_repo(self, request: Request) -> Response:
        self._writable(request)
        payload = await request.json()
        if set(payload) - {"name", "organization", "visibility", "private", "type"}:
            raise self._violation(f"create_repo payload outside the client's shape: {payload}")
        if payload.get("type") not in (None, "model"):
            raise HubError(400, "BadRequest", "only model repositories in this fake")
        namespace = payload.get("organization") or self.user
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.base_url}/{repo_id}"
        if repo_id in self.repos:
            raise HubError(409, "RepoExists", "You already created this model repo", url=url)
        now = self._tick()
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = Repo(repo_id, private, now)
        initial = Commit(
            self._oid(repo_id, "initial"), now, {".gitattributes": b"*.bin filter=lfs\n"}, "initial commit"
        )
        repo.commits[initial.oid] = initial
        repo.branches["main"] = initial.oid
        self.repos[repo_id] = repo
        return JSONResponse({"url": url, "name": repo_id, "id": payload["name"]})

    async def validate_yaml(self, request: Request) -> Response:
        """The Hub refuses a card it cannot read; here: YAML that is not a mapping, or
        card data the client's ``ModelCardData`` rejects (a malformed ``model-index``)."""
        payload = await request.json()
        try:
            card = yaml.safe_load(card_data_text(payload.get("content") or "")) or {}
            if not isinstance(card, dict):
                raise ValueError("the metadata is not a mapping")
            ModelCardData(**card)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            return JSONResponse({"errors": [{"message": str(exc)}], "warnings": []}, status_code=400)
        return JSONResponse({"errors": [], "warnings": []})

    async def list_models(self, request: Request) -> Response:
        params = request.query_params
        try:
            limit = min(int(params.get("limit") or self.max_limit), self.max_limit)
            cursor = int(params.get("cursor") or 0)
        except ValueError:
            raise HubError(400, "BadRequest", "limit and cursor are integers") from None
        author, search = params.get("author"), params.get("search")
        repos = sorted(
            (r for r in self.repos.values() if not r.private or request.state.authorized),
            key=lambda r: (r.created_at, r.repo_id),
        )
        if author:
            repos = [r for r in repos if r.repo_id.split("/", 1)[0] == author]
        if search:
            repos = [r for r in repos if search.lower() in r.repo_id.lower()]
        page = repos[cursor : cursor + limit]
        full = params.get("full") in ("True", "true", "1") or params.get("cardData") in ("True", "true", "1")
        body = [self.model_json(r, r.main, full=full) for r in page]
        headers = {}
        if cursor + limit < len(repos):
            query = [(k, v) for k, v in params.multi_items() if k != "cursor"] + [
                ("cursor", str(cursor + limit))
            ]
            headers["Link"] = f'<{self.base_url}/api/models?{urlencode(query)}>; rel="next"'
        return JSONResponse(body, headers=headers)

    async def model_info(self, request: Request) -> Response:
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        self._readable(request, repo)
        revision = unquote(request.path_params.get("rev") or "main")
        return JSONResponse(self.model_json(repo, self._commit_of(repo, revision)))

    async def refs(self, request: Request) -> Response:
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        self._readable(request, repo)
        return JSONResponse(self.refs_json(repo))

    async def preupload(self, request: Request) -> Response:
        self._writable(request)
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        payload = await request.json()
        files = payload.get("files")
        if not isinstance(files, list) or not all({"path", "sample", "size"} <= set(f) for f in files):
            raise self._violation(f"preupload payload outside the client's shape: {payload}")
        commit = self._commit_of(repo, unquote(request.path_params["rev"]))
        answer = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _git_oid(commit.files[f["path"]]) if f["path"] in commit.files else None,
            }
            for f in files
        ]
        return JSONResponse({"files": answer, "commitOid": commit.oid})

    async def commit(self, request: Request) -> Response:
        self._writable(request)
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        if request.headers.get("content-type") != "application/x-ndjson":
            raise self._violation("a commit is ndjson")
        revision = unquote(request.path_params["rev"])
        if revision not in repo.branches:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise self._violation("a commit starts with its header line")
        files = dict(repo.commits[repo.branches[revision]].files)
        for line in lines[1:]:
            value = line.get("value") or {}
            if line.get("key") == "file" and value.get("encoding") == "base64":
                files[value["path"]] = base64.b64decode(value["content"])
            elif line.get("key") == "deletedFile":
                files.pop(value["path"], None)
            else:
                raise HubError(
                    400, "BadRequest", f"this fake commits small regular files only, got {line.get('key')}"
                )
        summary = str(lines[0]["value"].get("summary") or "")
        commit = Commit(self._oid(repo.repo_id, summary), self._tick(), files, summary)
        repo.commits[commit.oid] = commit
        repo.branches[revision] = commit.oid
        return JSONResponse(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.base_url}/{repo.repo_id}/commit/{commit.oid}",
                "pullRequestUrl": None,
            }
        )

    async def create_tag(self, request: Request) -> Response:
        self._writable(request)
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        payload = await request.json()
        if set(payload) - {"tag", "message"} or not isinstance(payload.get("tag"), str):
            raise self._violation(f"create_tag payload outside the client's shape: {payload}")
        if self.fail_tag_create:
            raise HubError(self.fail_tag_create.pop(0), "InjectedFailure", "tag creation refused")
        commit = self._commit_of(repo, unquote(request.path_params["rev"]))
        if payload["tag"] in repo.tags:
            raise HubError(409, "TagExists", f"Tag {payload['tag']} already exists")
        repo.tags[payload["tag"]] = commit.oid
        return Response(status_code=200)

    async def delete_tag(self, request: Request) -> Response:
        self._writable(request)
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        tag = unquote(request.path_params["rev"])
        if repo.tags.pop(tag, None) is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {tag}")
        return Response(status_code=200)

    async def resolve(self, request: Request) -> Response:
        repo = self._repo(request.path_params["ns"], request.path_params["name"])
        self._readable(request, repo)
        commit = self._commit_of(repo, unquote(request.path_params["rev"]))
        content = commit.files.get(request.path_params["path"])
        if content is None:
            raise HubError(404, "EntryNotFound", "Entry not found")
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{_git_oid(content)}"',
            "Content-Length": str(len(content)),
        }
        return Response(b"" if request.method == "HEAD" else content, headers=headers)

    def _oid(self, repo_id: str, salt: str) -> str:
        return hashlib.sha1(f"{repo_id}:{salt}:{next(self._ids)}".encode()).hexdigest()


def card_data_text(content: str) -> str:
    if not content.startswith("---"):
        return ""
    _, _, rest = content.partition("\n")
    return rest.partition("\n---")[0]


def _git_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
