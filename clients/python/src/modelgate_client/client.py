"""``Client``: the gateway's catalogue, governance, model store and rollouts
from Python, one method per thing a pipeline or a notebook does.

    from modelgate_client import Client

    mg = Client()                                   # MODELGATE_URL and credentials from the environment
    v = mg.version("mg://platform/fraud-detector@production")
    v.metrics.to_pandas()
    mg.pull(v.uri, "./model")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelgate_client import documents as doc
from modelgate_client.credentials import Credentials, resolve_credentials
from modelgate_client.errors import (
    ConfigurationError,
    ModelgateError,
    PromotionRefused,
    WaitTimedOut,
)
from modelgate_client.progress import Progress, default_progress
from modelgate_client.results import (
    Compliance,
    Impact,
    LineageGraph,
    Model,
    ModelVersion,
    PromotionRequest,
    PulledFile,
    Rollout,
    SearchResults,
    UploadedFile,
)

if TYPE_CHECKING:
    import httpx

    from modelgate_client.session import Session

STAGES = ("DRAFT", "STAGING", "PRODUCTION", "ARCHIVED")
DEFAULT_TIMEOUT = 60.0


def is_model_uri(uri: str) -> bool:
    """``mg://<registry>/<model>`` (no version, no ``@ref``)."""
    rest = uri.removeprefix("mg://")
    return uri.startswith("mg://") and "@" not in rest and rest.count("/") == 1


def _stage(stage: str) -> str:
    upper = stage.strip().upper()
    if upper not in STAGES:
        raise ModelgateError("BAD_USER_INPUT", f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    return upper


class Client:
    """A connection to one gateway.

    ``url`` defaults to ``MODELGATE_URL``; credentials to ``api_key``/``token``,
    then the environment (see ``modelgate_client.credentials``). Use it as a
    context manager, or call ``close()``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ):
        env = os.environ if environ is None else environ
        url = url or env.get("MODELGATE_URL")
        if not url:
            raise ConfigurationError(
                "NO_URL", "no gateway URL: pass url= or set MODELGATE_URL (e.g. https://modelgate.internal)"
            )
        self.credentials: Credentials = resolve_credentials(api_key, token, env, self._http)
        from modelgate_client.session import Session

        self._session: Session = Session(url, self.credentials, timeout)
        self.url = self._session.url
        self.progress = progress

    def _http(self) -> httpx.Client:
        return self._session.http

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r}, {self.credentials.description})"

    def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Any GraphQL document; returns ``data`` (errors raise ``ModelgateError``)."""
        return self._session.graphql(document, variables)

    def _progress(self) -> Progress:
        return self.progress if self.progress is not None else default_progress()

    # --- the catalogue -----------------------------------------------------------

    def search(
        self,
        query: str | None = None,
        *,
        stages: Sequence[str] = (),
        teams: Sequence[str] = (),
        registries: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        versions: bool = False,
        first: int = 20,
        after: str | None = None,
    ) -> SearchResults:
        """Models (or with ``versions=True`` versions) matching a free-text query and filters."""
        filter_: dict[str, Any] = {}
        if stages:
            filter_["stages"] = [_stage(s) for s in stages]
        if teams:
            filter_["teams"] = list(teams)
        if registries:
            filter_["registries"] = list(registries)
        if tags:
            filter_["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        variables = {"query": query or None, "filter": filter_ or None, "first": first, "after": after}
        if versions:
            page = self.execute(doc.SEARCH_VERSIONS, variables)["versions"]
            items: tuple[Model | ModelVersion, ...] = tuple(
                ModelVersion.from_json(e["node"]) for e in page["edges"]
            )
        else:
            page = self.execute(doc.SEARCH_MODELS, variables)["models"]
            items = tuple(Model.from_json(e["node"]) for e in page["edges"])
        info = page["pageInfo"]
        return SearchResults(items, page["totalCount"], info["endCursor"] if info["hasNextPage"] else None)

    def model(self, uri: str) -> Model:
        found = self.execute(doc.MODEL, {"uri": uri})["model"]
        if found is None:
            raise ModelgateError("NOT_FOUND", f"no model {uri} in the catalogue")
        return Model.from_json(found)

    def version(self, uri: str) -> ModelVersion:
        """A version by URI or reference: ``mg://r/m/3``, ``mg://r/m@production``, ``mg://r/m@champion``."""
        found = self.execute(doc.VERSION, {"uri": uri})["modelVersion"]
        if found is None:
            raise ModelgateError("NOT_FOUND", f"no version {uri} in the catalogue")
        return ModelVersion.from_json(found)

    def show(self, uri: str) -> Model | ModelVersion:
        """A model for ``mg://r/m``, else a version."""
        return self.model(uri) if is_model_uri(uri) else self.version(uri)

    # --- registering -------------------------------------------------------------

    def upload(
        self, registry: str, model: str, path: str | os.PathLike[str], name: str | None = None
    ) -> UploadedFile:
        """One file into the model store (streamed, its digest checked)."""
        from modelgate_client.transfers import LocalFile, upload

        source = Path(path)
        return upload(
            self._session, registry, model, LocalFile(source, name or source.name), self._progress()
        )

    def register(
        self,
        registry: str,
        model: str,
        paths: Sequence[str | os.PathLike[str]],
        *,
        semver: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        datasets: Iterable[str | Mapping[str, Any]] = (),
        card: str | os.PathLike[str] | Mapping[str, str] | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        code: str | None = None,
    ) -> ModelVersion:
        """Upload files (or a directory's files) and register them as a new version.

        ``code`` names the training code as ``<repository>@<commit>[#<path>]``; inside
        GitHub Actions it defaults to the job's repository and commit.

        One file given: the version's artifact is that file. A directory, or several
        files: the version is a directory of them (``files`` in the registration;
        needs a gateway with directory versions)."""
        from modelgate_client.transfers import collect_files, upload

        files, directory = collect_files(list(paths))
        progress = self._progress()
        uploaded = [upload(self._session, registry, model, f, progress) for f in files]
        spec: dict[str, Any] = {"registry": registry, "model": model}
        if len(uploaded) == 1 and not directory:
            spec["artifactUri"] = uploaded[0].uri
            spec["artifactDigest"] = uploaded[0].digest
        else:
            spec["files"] = [{"path": u.path, "uri": u.uri} for u in uploaded]
        spec.update(_registration_details(semver, metrics, params, datasets, card, parent, tags, description))
        training_code = code_ref(code) if code else code_of_ci(os.environ)
        if training_code:
            spec["trainingCode"] = training_code
        try:
            created = self.execute(doc.REGISTER, {"input": spec})["registerModelVersion"]
        except ModelgateError as exc:
            # A gateway without directory versions: its RegisterVersionInput has no
            # files and requires artifactUri.
            if "files" in spec and ("'files'" in exc.message or "'artifactUri'" in exc.message):
                raise ModelgateError(
                    "NOT_SUPPORTED",
                    "this gateway registers single files only (it has no directory versions yet): "
                    "give one file, not a directory",
                ) from None
            raise
        return ModelVersion.from_json(created)

    # --- promotions --------------------------------------------------------------

    def request_promotion(self, uri: str, stage: str, reason: str | None = None) -> PromotionRequest:
        """Open a request to move a version to ``stage``; it may be BLOCKED at once by policy."""
        answer = self.execute(doc.REQUEST_PROMOTION, {"uri": uri, "stage": _stage(stage), "reason": reason})
        return PromotionRequest.from_json(answer["requestPromotion"])

    def approve(
        self, request_id: str, comment: str | None = None, role: str | None = None
    ) -> PromotionRequest:
        answer = self.execute(doc.APPROVE, {"id": request_id, "comment": comment, "role": role})
        return PromotionRequest.from_json(answer["approvePromotion"])

    def reject(self, request_id: str, reason: str, role: str | None = None) -> PromotionRequest:
        answer = self.execute(doc.REJECT, {"id": request_id, "comment": reason, "role": role})
        return PromotionRequest.from_json(answer["rejectPromotion"])

    def withdraw(self, request_id: str, reason: str | None = None) -> PromotionRequest:
        """Take back a request you made (it ends REJECTED, by you)."""
        answer = self.execute(doc.WITHDRAW, {"id": request_id, "reason": reason})
        return PromotionRequest.from_json(answer["withdrawPromotion"])

    def promotion_requests(
        self, uri: str | None = None, status: str | None = None, first: int = 100
    ) -> list[PromotionRequest]:
        found = self.execute(doc.REQUESTS, {"uri": uri, "status": status, "first": first})
        return [PromotionRequest.from_json(r) for r in found["promotionRequests"]]

    def promotion_request(self, request_id: str, uri: str | None = None) -> PromotionRequest:
        """One request by id (``uri``, its version, narrows the search)."""
        for request in self.promotion_requests(uri=uri):
            if request.id == request_id:
                return request
        raise ModelgateError("NOT_FOUND", f"no promotion request {request_id}")

    def wait_for_promotion(
        self,
        request: PromotionRequest | str,
        *,
        timeout: float = 3600.0,
        interval: float = 2.0,
        max_interval: float = 30.0,
        on_change: Callable[[PromotionRequest], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> PromotionRequest:
        """Poll (backing off from ``interval`` to ``max_interval``) until the request
        is APPLIED, which is returned. BLOCKED, REJECTED or FAILED raise
        ``PromotionRefused``; no decision within ``timeout`` seconds raises
        ``WaitTimedOut`` (the request stays open)."""
        current = request if isinstance(request, PromotionRequest) else self.promotion_request(request)
        deadline = clock() + timeout
        delay = interval
        while True:
            if current.done:
                if current.status == "APPLIED":
                    return current
                raise PromotionRefused(
                    current.status, f"request {current.id}: {current.explain()}", details=current
                )
            left = deadline - clock()
            if left <= 0:
                raise WaitTimedOut(
                    "TIMEOUT",
                    f"request {current.id} is still {current.status} after {timeout:g} s "
                    f"({current.explain()})",
                    details=current,
                )
            sleep(min(delay, left))
            delay = min(delay * 1.5, max_interval)
            previous = current
            current = self.promotion_request(current.id, current.version_uri)
            if on_change is not None and (current.status, current.required_approvals) != (
                previous.status,
                previous.required_approvals,
            ):
                on_change(current)

    def promote(
        self, uri: str, stage: str, reason: str | None = None, *, wait: bool = False, timeout: float = 3600.0
    ) -> PromotionRequest:
        """Request a promotion and, with ``wait``, wait until it is applied (see ``wait_for_promotion``)."""
        request = self.request_promotion(uri, stage, reason)
        if request.status == "BLOCKED" or (wait and request.done):
            return self.wait_for_promotion(request, timeout=0)
        return self.wait_for_promotion(request, timeout=timeout) if wait else request

    # --- governance and lineage --------------------------------------------------

    def check(self, uri: str) -> Compliance:
        """The version's policy evaluation (``.compliant``, ``.errors``, ``.violations``)."""
        found = self.execute(doc.COMPLIANCE, {"uri": uri})["modelVersion"]
        if found is None:
            raise ModelgateError("NOT_FOUND", f"no version {uri} in the catalogue")
        return Compliance.from_json(found["uri"], found["compliance"])

    def lineage(self, uri: str, *, direction: str = "BOTH", depth: int = 3) -> LineageGraph:
        found = self.execute(doc.LINEAGE, {"uri": uri, "direction": direction.upper(), "depth": depth})
        return LineageGraph.from_json(uri, found["lineage"])

    def impact(self, uri: str, *, depth: int = 10) -> Impact:
        """Every version downstream of a dataset, code, model or version."""
        return Impact.from_json(self.execute(doc.IMPACT, {"uri": uri, "depth": depth})["impactAnalysis"])

    # --- pulling -----------------------------------------------------------------

    def pull(self, uri: str, directory: str | os.PathLike[str] = ".") -> list[PulledFile]:
        """Every file of a version into ``directory``, each verified against its digest.

        A reference (``@production``) is resolved once: every file comes from the
        version it named at the start, even if the stage moves meanwhile. A file
        already there with the right digest is kept as is."""
        from modelgate_client.transfers import download, file_digest, safe_destination

        version = self.version(uri)
        if not version.files:
            where = f" (its artifact: {version.artifact_uri})" if version.artifact_uri else ""
            raise ModelgateError(
                "NO_FILES",
                f"{version.uri} has no files in the model store{where}: modelgate serves the files of "
                "native registries' versions; fetch a remote registry's artifact from that registry",
            )
        root = Path(directory)
        progress = self._progress()
        pulled: list[PulledFile] = []
        for file in version.files:
            target = safe_destination(root, file.path)
            if target.is_file() and target.stat().st_size == file.size and file_digest(target) == file.digest:
                pulled.append(PulledFile(str(target), file.digest, file.size))
                continue
            answer = self.execute(doc.DOWNLOAD, {"uri": version.uri, "path": file.path})["modelVersion"]
            link = (answer or {}).get("download")
            if link is None:
                raise ModelgateError("NOT_FOUND", f"{version.uri} has no downloadable file {file.path!r}")
            if link["digest"] != file.digest:
                raise ModelgateError(
                    "CONFLICT", f"{version.uri}: {file.path} changed while pulling ({link['digest']})"
                )
            download(self._session, link["url"], target, file.digest, file.size, file.path, progress)
            pulled.append(PulledFile(str(target), file.digest, file.size))
        return pulled

    # --- rollouts ----------------------------------------------------------------

    def start_rollout(
        self,
        uri: str,
        endpoint: str,
        *,
        steps: Sequence[float] | None = None,
        step_seconds: int | None = None,
        max_error_rate: float | None = None,
        reason: str | None = None,
    ) -> Rollout:
        """A canary rollout of a version onto an endpoint (it goes through the PRODUCTION approvals)."""
        spec = {
            "uri": uri,
            "endpoint": endpoint,
            "steps": list(steps) if steps is not None else None,
            "stepSeconds": step_seconds,
            "maxErrorRate": max_error_rate,
            "reason": reason,
        }
        return Rollout.from_json(self.execute(doc.START_ROLLOUT, {"input": spec})["startRollout"])

    def rollouts(self, status: str | None = None) -> list[Rollout]:
        return [Rollout.from_json(r) for r in self.execute(doc.ROLLOUTS, {"status": status})["rollouts"]]

    def rollout(self, rollout_id: str) -> Rollout:
        for rollout in self.rollouts():
            if rollout.id == rollout_id:
                return rollout
        raise ModelgateError("NOT_FOUND", f"no rollout {rollout_id}")

    def abort_rollout(self, rollout_id: str, reason: str) -> Rollout:
        answer = self.execute(doc.ABORT_ROLLOUT, {"id": rollout_id, "reason": reason})
        return Rollout.from_json(answer["abortRollout"])

    def watch_rollout(
        self,
        rollout_id: str,
        *,
        timeout: float = 86400.0,
        interval: float = 5.0,
        on_change: Callable[[Rollout], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Rollout:
        """Poll until the rollout ends (returned whatever its status) or raise ``WaitTimedOut``."""
        deadline = clock() + timeout
        seen: tuple[str, float] | None = None
        while True:
            current = self.rollout(rollout_id)
            if on_change is not None and (current.status, current.current_percent) != seen:
                on_change(current)
            seen = (current.status, current.current_percent)
            if current.done:
                return current
            left = deadline - clock()
            if left <= 0:
                raise WaitTimedOut(
                    "TIMEOUT", f"rollout {rollout_id} is still {current.status} after {timeout:g} s"
                )
            sleep(min(interval, left))


def code_ref(text: str) -> dict[str, str]:
    """``<repository>@<commit>[#<path>]`` (a repository alone, or ``@<commit>`` alone,
    is fine) as a CodeRefInput."""
    text, _, path = text.partition("#")
    repository, at, commit = text.rpartition("@")
    if not at:  # no "@": a repository only
        repository, commit = text, ""
    ref = {"repository": repository, "commit": commit, "path": path}
    return {k: v for k, v in ref.items() if v}


def code_of_ci(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The code a GitHub Actions job runs (its repository and commit), else None."""
    repository, commit = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_SHA")
    if not (repository and commit):
        return None
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return {"repository": f"{server}/{repository}", "commit": commit}


def _registration_details(
    semver: str | None,
    metrics: Mapping[str, float] | None,
    params: Mapping[str, Any] | None,
    datasets: Iterable[str | Mapping[str, Any]],
    card: str | os.PathLike[str] | Mapping[str, str] | None,
    parent: str | None,
    tags: Mapping[str, str] | None,
    description: str | None,
) -> dict[str, Any]:
    """The optional fields of a RegisterVersionInput, as given."""
    details: dict[str, Any] = {}
    if semver:
        details["semver"] = semver
    if description:
        details["description"] = description
    if parent:
        details["parent"] = parent
    if metrics:
        details["metrics"] = [{"key": k, "value": float(v)} for k, v in metrics.items()]
    if params:
        details["hyperparameters"] = [{"key": k, "value": str(v)} for k, v in params.items()]
    if tags:
        details["tags"] = [{"key": k, "value": str(v)} for k, v in tags.items()]
    refs = [{"uri": d} if isinstance(d, str) else dict(d) for d in datasets]
    if refs:
        details["trainingData"] = refs
    if card is not None:
        if isinstance(card, Mapping):
            details["modelCard"] = dict(card)
        else:
            from modelgate_client.model_card import read_model_card

            details["modelCard"] = read_model_card(card)
    return details
