// GraphiQL for /graphql, from the gateway's own copy of its files (vendor/).
// The dashboard's token (same tab) goes along as the Authorization header.
(function () {
  "use strict";
  const EXAMPLE = `# modelgate: one GraphQL API over every model registry.
# Ctrl-Enter runs the query; the Docs pane describes every type and field.
{
  registries { id kind healthy syncedAt modelCount versionCount }
  models(first: 5) {
    totalCount
    edges { node { uri name team latestVersion { version stage } } }
  }
}
`;
  const params = new URLSearchParams(location.search);
  const token = sessionStorage.getItem("modelgate.token");
  const headers = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;
  const url = location.href.split("?")[0];
  const fetcher = GraphiQL.createFetcher({ url });

  function remember(key, value) {
    if (value) params.set(key, value);
    else params.delete(key);
    history.replaceState(null, "", `?${params}`);
  }

  function App() {
    return React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      query: params.get("query") ?? undefined,
      variables: params.get("variables") ?? undefined,
      defaultHeaders: headers,
      onEditQuery: (q) => remember("query", q),
      onEditVariables: (v) => remember("variables", v),
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: Boolean(headers),
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
