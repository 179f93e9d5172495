// Starts GraphiQL on the patient-portal playground page, and the live results panel.
//
// First-party file of the portal-web-playground crate, served with the
// vendored React and GraphiQL builds under /playground/assets/. The page
// written by `render()` loads React, ReactDOM and GraphiQL (UMD globals)
// before this file, and gives its settings in the JSON data block
// `#playground-config`: { graphqlPath, defaultToken, defaultHeaders,
// defaultQuery, demo }. No inline script and no inline event handler, so the
// page's Content-Security-Policy can keep `script-src 'self'`.
//
// Each GraphiQL tab has its own Headers; they decide the token of the tab's
// queries (HTTP) and of its subscriptions (the `connection_init` payload).
// GraphiQL runs one operation at a time, so the live results panel holds its
// own subscription: it keeps listening while the tabs run mutations.
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

  // The headers with any spelling of "authorization" as a key rewritten to
  // "Authorization", so that the HTTP request and the `connection_init`
  // payload both carry one key.
  function normaliseHeaders(headers) {
    var out = {};
    if (!headers || typeof headers !== "object" || Array.isArray(headers)) {
      return out;
    }
    Object.keys(headers).forEach(function (key) {
      out[key.toLowerCase() === "authorization" ? "Authorization" : key] =
        headers[key];
    });
    return out;
  }

  // Whether the operation to run is a subscription (comments and strings
  // removed, then the named operation or the first one).
  function isSubscription(query, operationName) {
    var text = String(query || "")
      .replace(/"""[\s\S]*?"""/g, '""')
      .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
      .replace(/#[^\n\r]*/g, "");
    var named = operationName
      ? new RegExp("\\b(query|mutation|subscription)\\s+" + operationName + "\\b").exec(text)
      : /^\s*(query|mutation|subscription)\b/.exec(text);
    return !!named && named[1] === "subscription";
  }

  // One graphql-transport-ws subscription on its own socket. `sink` gets
  // next(result), error(err) and complete(); the returned object stops it.
  function subscribe(payload, headers, sink) {
    var socket = new WebSocket(wsUrl.href, "graphql-transport-ws");
    var finished = false;
    function finish() {
      if (!finished) {
        finished = true;
        sink.complete();
      }
    }
    function send(message) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
      }
    }
    socket.onopen = function () {
      send({ type: "connection_init", payload: normaliseHeaders(headers) });
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        send({ id: "1", type: "subscribe", payload: payload });
        if (sink.subscribed) {
          sink.subscribed();
        }
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "next") {
        sink.next(message.payload);
      } else if (message.type === "error") {
        sink.next({ errors: message.payload });
        finish();
      } else if (message.type === "complete") {
        finish();
        socket.close(1000);
      }
    };
    socket.onclose = function (event) {
      if (!finished && event.code === 4403) {
        sink.next({ errors: [{ message: "Forbidden: the token in the Headers was refused (4403)" }] });
      }
      finish();
    };
    return {
      unsubscribe: function () {
        if (!finished) {
          send({ id: "1", type: "complete" });
          finished = true;
        }
        socket.close(1000);
      },
    };
  }

  // GraphiQL's fetcher: the current tab's headers for both transports.
  function fetcher(params, opts) {
    var headers = normaliseHeaders(opts && opts.headers);
    if (isSubscription(params.query, params.operationName)) {
      return {
        subscribe: function (observer) {
          var sink = {
            next: function (v) { if (observer.next) observer.next(v); },
            error: function (e) { if (observer.error) observer.error(e); },
            complete: function () { if (observer.complete) observer.complete(); },
          };
          return subscribe(params, headers, sink);
        },
      };
    }
    return fetch(httpUrl.href, {
      method: "POST",
      headers: Object.assign(
        {
          "content-type": "application/json",
          accept: "application/graphql-response+json, application/json;q=0.9",
        },
        headers
      ),
      body: JSON.stringify(params),
    }).then(function (response) {
      return response.json();
    });
  }

  var demo = config.demo;
  var props = {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: "headers",
  };
  if (typeof config.defaultHeaders === "string") {
    props.defaultHeaders = config.defaultHeaders;
  }
  if (demo) {
    // The examples as the patient, and a tab for the lab with its own token.
    props.defaultTabs = [
      { query: config.defaultQuery, headers: config.defaultHeaders || "" },
      { query: demo.labQuery, variables: demo.labVariables, headers: demo.labHeaders },
    ];
  } else {
    props.defaultQuery = config.defaultQuery;
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));

  if (demo) {
    startLivePanel(demo);
  }

  // The live results panel: `resultReady` for the demo patient with the
  // patient's token, and the newest messages of the local mailbox.
  function startLivePanel(demo) {
    var who = document.getElementById("live-who");
    var toggle = document.getElementById("live-toggle");
    var status = document.getElementById("live-status");
    var deliveries = document.getElementById("live-deliveries");
    var mailbox = document.getElementById("live-mailbox");
    if (!who || !toggle || !status || !deliveries || !mailbox) {
      return;
    }
    who.textContent =
      "resultReady for " + demo.patientName + ", with " + demo.patientName +
      "'s token. Add a result in the lab tab and it appears here. Other demo users: " +
      demo.tokenCommand;
    // Subscribing with `after` (an event id made from the server's clock a moment before now)
    // makes the server replay anything committed while the subscription was being set up.
    var loadedAt = Date.now();
    function eventIdAt(ms) {
      var hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
      return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-7000-8000-000000000000";
    }
    var query =
      "subscription ResultReady($patientId: ID!, $after: ID) { resultReady(patientId: $patientId, after: $after) " +
      "{ eventId result { id status issuedAt test { displayName } observations { displayName displayValue interpretation } } } }";
    var running = null;
    var timer = null;

    function item(text, className) {
      var li = document.createElement("li");
      li.textContent = text;
      if (className) {
        li.className = className;
      }
      return li;
    }

    function describe(payload) {
      if (payload.errors) {
        return payload.errors.map(function (e) { return e.message; }).join("; ");
      }
      var ready = payload.data && payload.data.resultReady;
      var result = ready && ready.result;
      if (!result) {
        return "(no result)";
      }
      var values = (result.observations || [])
        .map(function (o) { return o.displayName + " " + o.displayValue + (o.interpretation ? " (" + o.interpretation + ")" : ""); })
        .join(", ");
      return result.test.displayName + " — " + result.status + (values ? ": " + values : "");
    }

    function refreshMailbox() {
      fetch(demo.mailboxPath, { headers: { accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (messages) {
          mailbox.replaceChildren.apply(
            mailbox,
            messages.map(function (m) {
              return item(m.kind + " to " + m.to + ": " + m.subject + " — " + m.text, "mailbox-message");
            })
          );
        })
        .catch(function () {});
    }

    function start() {
      status.textContent = "subscribing…";
      running = subscribe(
        {
          query: query,
          variables: {
            patientId: demo.patientId,
            after: eventIdAt(demo.serverTimeMs + (Date.now() - loadedAt) - 2000),
          },
          operationName: "ResultReady",
        },
        JSON.parse(config.defaultHeaders || "{}"),
        {
          subscribed: function () {
            status.textContent = "listening";
          },
          next: function (payload) {
            deliveries.prepend(item(describe(payload), payload.errors ? "delivery-error" : "delivery"));
            refreshMailbox();
          },
          error: function () {},
          complete: function () {
            status.textContent = "not subscribed";
            toggle.textContent = "Subscribe";
            running = null;
          },
        }
      );
      toggle.textContent = "Stop";
      timer = window.setInterval(refreshMailbox, 2000);
    }

    function stop() {
      if (running) {
        running.unsubscribe();
      }
      window.clearInterval(timer);
    }

    toggle.addEventListener("click", function () {
      if (running) {
        stop();
      } else {
        start();
      }
    });
    refreshMailbox();
  }
})();
