// Starts GraphiQL on the patient-portal playground page.
//
// First-party file of the portal-web-playground crate, served with the
// vendored React and GraphiQL builds under /playground/assets/. The page
// written by `render()` loads React, ReactDOM and GraphiQL (UMD globals)
// before this file, and gives its settings in the JSON data block
// `#playground-config`: { graphqlPath, defaultToken, defaultHeaders,
// defaultQuery }. No inline script and no inline event handler, so the
// page's Content-Security-Policy can keep `script-src 'self'`.
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  var configBlock = document.getElementById("playground-config");
  if (!root || !configBlock) {
    return;
  }
  var config = JSON.parse(configBlock.textContent);

  // HTTP and WebSocket share the GraphQL path on the page's own origin.
  var httpUrl = new URL(config.graphqlPath, window.location.href);
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  var defaultAuthorization =
    typeof config.defaultToken === "string" && config.defaultToken !== ""
      ? "Bearer " + config.defaultToken
      : null;

  // The headers editor content with any spelling of "authorization" as a
  // key rewritten to "Authorization", so that the HTTP request and the
  // graphql-transport-ws `connection_init` payload both carry one key.
  function normaliseHeaders(headers) {
    if (!headers || typeof headers !== "object" || Array.isArray(headers)) {
      return headers;
    }
    var out = {};
    Object.keys(headers).forEach(function (key) {
      out[key.toLowerCase() === "authorization" ? "Authorization" : key] =
        headers[key];
    });
    return out;
  }

  // GraphiQL's toolkit opens a graphql-ws client (bundled in graphiql.min.js)
  // per subscription, with connectionParams = { ...wsConnectionParams,
  // ...current headers editor content }: the Authorization header being
  // edited wins, and the default token is the fallback.
  var graphiqlFetcher = GraphiQL.createFetcher({
    url: httpUrl.href,
    subscriptionUrl: wsUrl.href,
    wsConnectionParams: defaultAuthorization
      ? { Authorization: defaultAuthorization }
      : {},
  });

  function fetcher(params, opts) {
    if (opts && opts.headers) {
      opts = Object.assign({}, opts, {
        headers: normaliseHeaders(opts.headers),
      });
    }
    return graphiqlFetcher(params, opts);
  }

  var props = {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
  };
  if (typeof config.defaultHeaders === "string") {
    props.defaultHeaders = config.defaultHeaders;
    props.defaultEditorToolsVisibility = "headers";
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
