// Starts GraphiQL on the patient-portal playground page, and the live results panel.
//
// First-party file of the portal-web-playground crate, served with the
// vendored React and GraphiQL builds under /playground/assets/. The page
// written by `render()` loads React, ReactDOM and GraphiQL (UMD globals)
// before this file, and gives its settings in the JSON data block
// `#playground-config`: { graphqlPath, defaultToken, defaultHeaders,
// defaultQuery, welcomeQuery, demo }. No inline script and no inline event handler, so the
// page's Content-Security-Policy can keep `script-src 'self'`.
//
// Each GraphiQL tab has its own Headers; they decide the token of the tab's
// queries (HTTP) and of its subscriptions (the `connection_init` payload); the
// badge in the banner names whose token the current tab holds. GraphiQL runs
// one operation at a time and stops a tab's subscription when another tab is
// opened, so the live results panel holds its own subscription, on its own
// socket: it keeps listening while the tabs run mutations.
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
    // What a tab opened with "+" shows (and its headers, below): the project's welcome.
    defaultQuery: config.welcomeQuery,
    onTabChange: function (state) {
      var tab = state.tabs[state.activeTabIndex];
      showBadge(tab && tab.headers);
    },
    onEditHeaders: showBadge,
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
    props.defaultTabs = [{ query: config.defaultQuery, headers: config.defaultHeaders || "" }];
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));

  // The demo users ({ label, role, token, patientId }) once loaded; labels for the badge.
  var users = [];
  var shownHeaders = config.defaultHeaders || "";

  // The token of a tab's Headers text (JSON), or null.
  function tokenOf(headersText) {
    try {
      var auth = normaliseHeaders(JSON.parse(headersText || "{}")).Authorization;
      return typeof auth === "string" ? auth.replace(/^bearer\s+/i, "").trim() : null;
    } catch (e) {
      return null;
    }
  }

  // The claims of a JWT (its middle part, base64url JSON), or null. Not verified: the
  // badge only names whose token it is; the server decides what it may do.
  function claimsOf(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch (e) {
      return null;
    }
  }

  // Whose token the current tab holds: a demo user's label (same subject and roles; each
  // minting gives a new token), else the token's own claims.
  function showBadge(headersText) {
    shownHeaders = headersText || "";
    var badge = document.getElementById("tab-badge");
    if (!badge) {
      return;
    }
    var token = tokenOf(shownHeaders);
    var claims = token && claimsOf(token);
    var roles = claims ? String(claims.roles || []) : "";
    var known = claims && users.filter(function (u) {
      var theirs = claimsOf(u.token);
      return theirs && theirs.sub === claims.sub && String(theirs.roles || []) === roles;
    })[0];
    var text = "no token: anonymous";
    var role = "none";
    if (known) {
      text = known.label;
      role = known.role;
    } else if (claims) {
      role = (claims.roles || [])[0] || "unknown";
      text = claims.sub + " — " + (claims.roles || []).join(", ");
    } else if (token) {
      text = "a token that is not a JWT";
    }
    badge.textContent = text;
    badge.dataset.role = role;
  }
  showBadge(shownHeaders);

  if (demo) {
    fetch(demo.tokensPath, { headers: { accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { users: [] }; })
      .then(function (answer) {
        users = answer.users || [];
        showBadge(shownHeaders);
        startLivePanel(demo, users);
      });
  }

  // The live results panel: `resultReady` as the demo patient picked, with that
  // patient's token, and the newest messages of the local mailbox.
  function startLivePanel(demo, users) {
    var picker = document.getElementById("live-user");
    var who = document.getElementById("live-who");
    var toggle = document.getElementById("live-toggle");
    var status = document.getElementById("live-status");
    var deliveries = document.getElementById("live-deliveries");
    var mailbox = document.getElementById("live-mailbox");
    var note = document.getElementById("mailbox-note");
    if (!picker || !who || !toggle || !status || !deliveries || !mailbox || !note) {
      return;
    }
    var patients = users.filter(function (u) { return u.patientId; });
    patients.forEach(function (u, i) {
      var option = document.createElement("option");
      option.value = String(i);
      option.textContent = u.label;
      picker.appendChild(option);
    });
    function listener() {
      return patients[Number(picker.value)] || patients[0];
    }
    function explain() {
      var user = listener();
      who.textContent = user
        ? "resultReady for " + user.name + ", with " + user.name + "'s token. Run AddHbA1c in " +
          "the lab tab and Alice's result appears here. In a terminal: " + demo.tokenCommand
        : "No demo patient.";
    }
    picker.addEventListener("change", function () {
      // A new listener: stop the running subscription, then subscribe as the one picked.
      var wasRunning = !!running;
      stop();
      explain();
      if (wasRunning) {
        start();
      }
    });
    explain();
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

    function el(tag, text, className) {
      var node = document.createElement(tag);
      if (text) {
        node.textContent = text;
      }
      if (className) {
        node.className = className;
      }
      return node;
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

    // One message as its recipient gets it: an email with its headers, an SMS as a
    // text bubble, a push notification as a banner; the link is a link.
    var CHANNEL = { email: "Email", sms: "SMS", push: "Push" };
    function message(m) {
      var li = el("li", "", "mail mail-" + m.channel);
      var meta = el("p", "", "mail-meta");
      meta.appendChild(el("strong", CHANNEL[m.channel] || m.channel));
      meta.appendChild(document.createTextNode(" to " + m.to + " · "));
      var time = el("time", new Date(m.sentAt).toLocaleString());
      time.dateTime = m.sentAt;
      meta.appendChild(time);
      li.appendChild(meta);
      if (m.subject) {
        li.appendChild(el("p", m.subject, "mail-subject"));
      }
      var body = el("p", "", "mail-body");
      var parts = m.link ? m.body.split(m.link) : [m.body];
      parts.forEach(function (part, i) {
        body.appendChild(document.createTextNode(part));
        if (i < parts.length - 1) {
          var a = el("a", m.link);
          a.href = m.link;
          body.appendChild(a);
        }
      });
      li.appendChild(body);
      return li;
    }

    function refreshMailbox() {
      fetch(demo.mailboxPath, { headers: { accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { messages: [] }; })
        .then(function (answer) {
          var messages = answer.messages || [];
          note.textContent = messages.length
            ? "Newest first. " + (answer.development || "")
            : "No messages yet. When a result is added, the email, SMS and push the patient " +
              "is sent appear here" + (answer.folder ? " (files in " + answer.folder + ")" : "") + ".";
          mailbox.replaceChildren.apply(mailbox, messages.map(message));
        })
        .catch(function () {});
    }

    function start() {
      var user = listener();
      if (!user) {
        return;
      }
      status.textContent = "subscribing…";
      running = subscribe(
        {
          query: query,
          variables: {
            patientId: user.patientId,
            after: eventIdAt(demo.serverTimeMs + (Date.now() - loadedAt) - 2000),
          },
          operationName: "ResultReady",
        },
        { Authorization: "Bearer " + user.token },
        {
          subscribed: function () {
            status.textContent = "listening as " + user.label;
          },
          next: function (payload) {
            deliveries.prepend(el("li", describe(payload), payload.errors ? "delivery-error" : "delivery"));
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
        running = null;
      }
      status.textContent = "not subscribed";
      toggle.textContent = "Subscribe";
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
