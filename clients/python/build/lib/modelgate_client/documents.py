"""Every GraphQL document the client sends, in one place.

Written by hand rather than generated (ariadne-codegen would need pydantic at run
time and a build step; hand-written documents keep the client at one dependency
and its import fast). The price of hand-writing, a document drifting from the
schema, is paid by a test instead: ``tests/client/test_documents.py`` validates
each document in ``DOCUMENTS`` against the repository's ``schema.graphql``, so a
schema change that breaks the client fails CI.

Inputs travel as variables (``$input: RegisterVersionInput!``), never spelled
out in the document, so optional input fields a newer gateway adds (a
directory's ``files``) do not change the documents.
"""

from __future__ import annotations

VERSION_FIELDS = """
fragment VersionFields on ModelVersion {
  uri version semver stage nativeStage aliases description
  artifactUri artifactDigest team createdBy createdAt updatedAt
  model { uri name registry { id } }
  parent { uri }
  metrics { key value }
  hyperparameters { key value }
  trainingData { uri name digest role }
  tags { key value }
  modelCard { summary intendedUse limitations trainingDataSummary evaluation biasAssessment warnings }
  deployments { endpoint trafficPercent variant status }
  compliance { compliant violations { policy severity message } }
  files { path size digest }
}
"""

MODEL_FIELDS = """
fragment ModelFields on Model {
  uri name description team createdAt updatedAt
  registry { id }
  tags { key value }
  latestVersion { uri version stage }
}
"""

REQUEST_FIELDS = """
fragment RequestFields on PromotionRequest {
  id versionUri fromStage targetStage status reason requestedBy
  requiredApprovals requiredRoles error attempts createdAt updatedAt
  approvals { principal role comment at }
  rejection { principal role comment at }
  violations { policy severity message }
}
"""

ROLLOUT_FIELDS = """
fragment RolloutFields on Rollout {
  id status currentPercent reason stepSeconds maxErrorRate requestedBy
  createdAt startedAt finishedAt canAbort
  version { uri }
  endpoint { uri name }
  steps { percent startedAt finishedAt errorRate passed }
  promotion { id status requiredApprovals }
}
"""

SEARCH_MODELS = (
    """
query SearchModels($query: String, $filter: SearchFilter, $first: Int, $after: String) {
  models(query: $query, filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ...ModelFields } }
  }
}
"""
    + MODEL_FIELDS
)

SEARCH_VERSIONS = (
    """
query SearchVersions($query: String, $filter: SearchFilter, $first: Int, $after: String) {
  versions(query: $query, filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ...VersionFields } }
  }
}
"""
    + VERSION_FIELDS
)

MODEL = (
    """
query Model($uri: String!) {
  model(uri: $uri) { ...ModelFields }
}
"""
    + MODEL_FIELDS
)

VERSION = (
    """
query Version($uri: String!) {
  modelVersion(uri: $uri) { ...VersionFields }
}
"""
    + VERSION_FIELDS
)

# One file's download URL, asked right before it is fetched (signed URLs expire).
DOWNLOAD = """
query Download($uri: String!, $path: String) {
  modelVersion(uri: $uri) {
    uri
    download(path: $path) { url expiresAt digest size }
  }
}
"""

COMPLIANCE = """
query Compliance($uri: String!) {
  modelVersion(uri: $uri) {
    uri stage
    compliance { compliant violations { policy severity message } }
  }
}
"""

LINEAGE = """
query Lineage($uri: String!, $direction: LineageDirection, $depth: Int) {
  lineage(uri: $uri, direction: $direction, depth: $depth) {
    truncated
    nodes { uri kind label registry }
    edges { source target relation }
  }
}
"""

IMPACT = """
query Impact($uri: String!, $depth: Int) {
  impactAnalysis(uri: $uri, depth: $depth) {
    root truncated nodesVisited
    versions { uri path relations depth version { stage } }
  }
}
"""

REGISTER = (
    """
mutation Register($input: RegisterVersionInput!) {
  registerModelVersion(input: $input) { ...VersionFields }
}
"""
    + VERSION_FIELDS
)

REQUEST_PROMOTION = (
    """
mutation RequestPromotion($uri: String!, $stage: Stage!, $reason: String) {
  requestPromotion(uri: $uri, targetStage: $stage, reason: $reason) { ...RequestFields }
}
"""
    + REQUEST_FIELDS
)

APPROVE = (
    """
mutation Approve($id: ID!, $comment: String, $role: String) {
  approvePromotion(requestId: $id, comment: $comment, role: $role) { ...RequestFields }
}
"""
    + REQUEST_FIELDS
)

REJECT = (
    """
mutation Reject($id: ID!, $comment: String!, $role: String) {
  rejectPromotion(requestId: $id, comment: $comment, role: $role) { ...RequestFields }
}
"""
    + REQUEST_FIELDS
)

WITHDRAW = (
    """
mutation Withdraw($id: ID!, $reason: String) {
  withdrawPromotion(requestId: $id, reason: $reason) { ...RequestFields }
}
"""
    + REQUEST_FIELDS
)

# There is no promotionRequest(id) query: a request is found among its version's.
REQUESTS = (
    """
query Requests($uri: String, $status: String, $first: Int) {
  promotionRequests(uri: $uri, status: $status, first: $first) { ...RequestFields }
}
"""
    + REQUEST_FIELDS
)

START_ROLLOUT = (
    """
mutation StartRollout($input: RolloutInput!) {
  startRollout(input: $input) { ...RolloutFields }
}
"""
    + ROLLOUT_FIELDS
)

ABORT_ROLLOUT = (
    """
mutation AbortRollout($id: ID!, $reason: String!) {
  abortRollout(id: $id, reason: $reason) { ...RolloutFields }
}
"""
    + ROLLOUT_FIELDS
)

ROLLOUTS = (
    """
query Rollouts($status: String) {
  rollouts(status: $status) { ...RolloutFields }
}
"""
    + ROLLOUT_FIELDS
)

# Every document the client sends, by name (the fragments above are parts of them):
# the schema test validates each.
DOCUMENTS: dict[str, str] = {
    "SearchModels": SEARCH_MODELS,
    "SearchVersions": SEARCH_VERSIONS,
    "Model": MODEL,
    "Version": VERSION,
    "Download": DOWNLOAD,
    "Compliance": COMPLIANCE,
    "Lineage": LINEAGE,
    "Impact": IMPACT,
    "Register": REGISTER,
    "RequestPromotion": REQUEST_PROMOTION,
    "Approve": APPROVE,
    "Reject": REJECT,
    "Withdraw": WITHDRAW,
    "Requests": REQUESTS,
    "StartRollout": START_ROLLOUT,
    "AbortRollout": ABORT_ROLLOUT,
    "Rollouts": ROLLOUTS,
}
