"""The GraphQL documents modelgate sends to W&B: the ``wandb`` SDK's own
(``wandb/sdk/artifacts/_generated/operations.py`` in wandb 0.31:
``RegistryCollections``, ``RegistryVersions``, ``AddAliases``, ``DeleteAliases``,
``UpdateArtifact``, ``FetchArtifactManifest``, ``ArtifactCreatedBy`` with the
``Run`` fields of ``wandb/apis/public/runs.py``), trimmed to the fields modelgate
maps and, for one version's details, merged into one round trip. W&B publishes no
schema; the tests validate each document against the fake's schema, which is
written from the SDK's documents."""

from __future__ import annotations

PAGE_INFO = """
fragment PageInfoFragment on PageInfo { endCursor hasNextPage }
"""

COLLECTION_FIELDS = """
fragment RegistryCollectionFragment on ArtifactCollection {
  __typename id name description createdAt updatedAt
  project { name entity { name } }
  type: defaultArtifactType { name }
  tags { edges { node { name } } }
}
"""

REGISTRY_COLLECTIONS = (
    """
query RegistryCollections(
  $organization: String!, $registryFilter: JSONString, $collectionFilter: JSONString,
  $collectionTypes: [ArtifactCollectionType!] = [PORTFOLIO], $cursor: String, $perPage: Int
) {
  organization(name: $organization) {
    orgEntity {
      name
      artifactCollections(
        projectFilters: $registryFilter, filters: $collectionFilter,
        collectionTypes: $collectionTypes, after: $cursor, first: $perPage
      ) {
        totalCount
        pageInfo { ...PageInfoFragment }
        edges { cursor node { ...RegistryCollectionFragment } }
      }
    }
  }
}
"""
    + PAGE_INFO
    + COLLECTION_FIELDS
)

ARTIFACT_FIELDS = """
fragment ArtifactFragment on Artifact {
  id versionIndex description metadata size digest state createdAt updatedAt
  artifactType { name }
  artifactSequence { name project { name entity { name } } }
  tags { name }
}
"""

REGISTRY_VERSIONS = (
    """
query RegistryVersions(
  $organization: String!, $registryFilter: JSONString, $collectionFilter: JSONString,
  $artifactFilter: JSONString, $cursor: String, $perPage: Int
) {
  organization(name: $organization) {
    orgEntity {
      name
      artifactMemberships(
        projectFilters: $registryFilter, collectionFilters: $collectionFilter,
        filters: $artifactFilter, after: $cursor, first: $perPage
      ) {
        pageInfo { ...PageInfoFragment }
        edges {
          cursor
          node {
            id versionIndex createdAt
            aliases { alias }
            artifactCollection { __typename name description project { name entity { name } } }
            artifact { ...ArtifactFragment }
          }
        }
      }
    }
  }
}
"""
    + PAGE_INFO
    + ARTIFACT_FIELDS
)

# One version's lineage in one round trip: the run that logged it (``config`` =
# hyperparameters, ``summaryMetrics`` = metrics), the artifacts that run used
# (datasets, with digests), and where each manifest lives.
VERSION_DETAILS = """
query VersionDetails($id: ID!, $perPage: Int) {
  artifact(id: $id) {
    currentManifest { file { directUrl } }
    createdBy {
      __typename
      ... on Run {
        id name config summaryMetrics
        user { username }
        project { name entity { name } }
        artifacts: inputArtifacts(first: $perPage) {
          edges {
            node {
              id versionIndex digest
              artifactType { name }
              artifactSequence { name project { name entity { name } } }
              currentManifest { file { directUrl } }
            }
          }
        }
      }
    }
  }
}
"""

ADD_ALIASES = """
mutation AddAliases($input: AddAliasesInput!) {
  result: addAliases(input: $input) { success }
}
"""

DELETE_ALIASES = """
mutation DeleteAliases($input: DeleteAliasesInput!) {
  result: deleteAliases(input: $input) { success }
}
"""

UPDATE_ARTIFACT_TAGS = """
mutation UpdateArtifact($input: UpdateArtifactInput!) {
  result: updateArtifact(input: $input) { artifact { id tags { name } } }
}
"""

HEALTH = """
query FetchOrganization($org: String!) {
  organization(name: $org) { id name orgEntity { name } }
}
"""
