// Switchboard chat widget. Embed with:
//   <script src="https://YOUR-SWITCHBOARD/widget.js" data-widget="wgt_…" async></script>
// It needs only `script-src` and `connect-src` (https and wss) for that origin in the page's
// Content-Security-Policy: no inline script, no inline style attributes, no eval. Everything it
// shows lives in a shadow root, styled by a constructed stylesheet; text is always set as text.
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget]");
  if (!script || window.$switchboard && window.$switchboard.version) { return; }
  var publicId = script.getAttribute("data-widget");
  var base = new URL(script.src, location.href).origin;
  var api = base + "/widget/v1/" + encodeURIComponent(publicId);
  var storeKey = "switchboard:" + publicId;

  // Storage that survives page loads, and a memory fallback where storage is refused.
  var memory = {};
  function load() { try { return JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { return memory; } }
  function save() { try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { memory = state; } }
  var state = load(); // {token, identifier, verified, conversation, cursor, unread}

  var config = null, socket = null, backoff = 500, opened = false, pendingUser = null, seen = {};

  function emit(name, detail) { window.dispatchEvent(new CustomEvent("switchboard:" + name, { detail: detail })); }
  function request(method, path, body, raw) {
    var headers = {};
    if (state.token) { headers["X-Widget-Session"] = state.token; }
    if (body !== undefined && !raw) { headers["Content-Type"] = "application/json"; }
    return fetch(api + path, { method: method, headers: headers, body: raw ? body : body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        return res.text().then(function (t) {
          var json = null; try { json = t ? JSON.parse(t) : null; } catch (e) { json = null; }
          if (!res.ok) { var err = new Error(json && json.detail || "Request failed"); err.status = res.status; err.code = json && json.code; throw err; }
          return json;
        });
      });
  }

  // ---- view ----
  var host = document.createElement("div");
  host.id = "switchboard-widget";
  var root = host.attachShadow({ mode: "open" });
  var css = [
    ":host{all:initial}",
    "[hidden]{display:none!important}",
    "*{box-sizing:border-box;font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;background:var(--c);color:var(--t);box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".launcher svg{width:26px;height:26px;fill:currentColor}",
    "button.attach svg{width:18px;height:18px;fill:none;stroke:currentColor;stroke-width:2;vertical-align:middle}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#b00020;color:#fff;font-size:12px;line-height:20px;padding:0 5px}",
    ".panel{position:fixed;right:20px;bottom:88px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1c2330;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000}",
    ".panel[hidden]{display:none}",
    "header{background:var(--c);color:var(--t);padding:14px 16px;display:flex;align-items:center;gap:10px}",
    "header img{width:32px;height:32px;border-radius:50%;object-fit:cover}",
    "header h2{margin:0;font-size:16px;font-weight:600;flex:1}",
    "header button{background:none;border:0;color:inherit;font-size:22px;cursor:pointer;line-height:1}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}",
    ".m{max-width:80%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".m.contact{align-self:flex-end;background:var(--c);color:var(--t)}",
    ".m.agent,.m.bot,.m.system{align-self:flex-start;background:#fff;border:1px solid #d9dde3}",
    ".m.greeting{align-self:flex-start;background:#fff;border:1px dashed #b8bfca}",
    ".m a{color:inherit}",
    ".who{font-size:12px;opacity:.8;display:block}",
    ".typing{font-size:13px;color:#545e6e;padding:0 14px 6px}",
    ".notice{font-size:13px;color:#8a1c1c;padding:8px 14px;background:#fdecec}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #d9dde3;align-items:flex-end}",
    "form.pre{flex-direction:column;align-items:stretch}",
    "textarea,input{flex:1;border:1px solid #8a94a3;border-radius:8px;padding:8px;resize:none;color:#1c2330;background:#fff}",
    "button.send,form.pre button{background:var(--c);color:var(--t);border:0;border-radius:8px;padding:8px 14px;cursor:pointer;min-height:38px}",
    "button.attach{background:none;border:1px solid #8a94a3;border-radius:8px;min-height:38px;cursor:pointer;color:#1c2330}",
    "button:disabled{opacity:.5;cursor:default}",
    ".csat{padding:10px 14px;border-top:1px solid #d9dde3;background:#fff}",
    ".csat p{margin:0 0 6px}",
    ".stars{display:flex;gap:4px}",
    ".stars button{flex:1;border:1px solid #8a94a3;background:#fff;border-radius:8px;padding:6px;cursor:pointer;color:#1c2330}",
    ":focus-visible{outline:3px solid #0b57d0;outline-offset:2px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}.panel:not([hidden])+.launcher{display:none}}"
  ].join("\n");
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    var style = document.createElement("style"); style.textContent = css; root.appendChild(style);
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var wrap = el("div", { "class": "wrap" });
  var launcher = el("button", { "class": "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false" });
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var badge = el("span", { "class": "badge", hidden: "" });
  launcher.appendChild(badge);
  var panel = el("section", { "class": "panel", role: "dialog", "aria-label": "Chat", hidden: "" });
  var head = el("header");
  var avatar = el("img", { alt: "", hidden: "" });
  var title = el("h2", {}, "Chat");
  var closeBtn = el("button", { type: "button", "aria-label": "Close chat" }, "×");
  head.appendChild(avatar); head.appendChild(title); head.appendChild(closeBtn);
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var typing = el("div", { "class": "typing", hidden: "" }, "Typing…");
  var notice = el("div", { "class": "notice", role: "alert", hidden: "" });
  var pre = el("form", { "class": "pre", hidden: "" });
  var preName = el("input", { name: "name", autocomplete: "name", placeholder: "Your name", maxlength: "200", "aria-label": "Your name" });
  var preEmail = el("input", { name: "email", type: "email", autocomplete: "email", placeholder: "Your email", maxlength: "254", "aria-label": "Your email" });
  pre.appendChild(el("p", {}, "Tell us who you are and we will get back to you."));
  pre.appendChild(preName); pre.appendChild(preEmail); pre.appendChild(el("button", { type: "submit" }, "Start chat"));
  var form = el("form", { "class": "composer" });
  var input = el("textarea", { rows: "2", placeholder: "Write a message…", maxlength: "65536", "aria-label": "Message" });
  var file = el("input", { type: "file", hidden: "", "aria-hidden": "true" });
  var attach = el("button", { type: "button", "class": "attach", "aria-label": "Attach a file", title: "Attach a file" });
  attach.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"/></svg>';
  var send = el("button", { type: "submit", "class": "send" }, "Send");
  form.appendChild(attach); form.appendChild(file); form.appendChild(input); form.appendChild(send);
  var csat = el("div", { "class": "csat", hidden: "" });
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(typing); panel.appendChild(notice);
  panel.appendChild(csat); panel.appendChild(pre); panel.appendChild(form);
  wrap.appendChild(panel); wrap.appendChild(launcher);
  root.appendChild(wrap);

  function showNotice(text) { notice.textContent = text; notice.hidden = !text; }
  function setUnread(n) { state.unread = n; save(); badge.textContent = String(n); badge.hidden = !n; }

  function contrastText(hex) {
    var m = /^#([0-9a-f]{6})$/i.exec(hex || ""); if (!m) { return "#fff"; }
    var v = parseInt(m[1], 16), ch = [v >> 16 & 255, v >> 8 & 255, v & 255].map(function (c) { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
    var l = 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#000" : "#fff";
  }
  function applyConfig() {
    var a = config.appearance || {};
    var c = /^#[0-9a-f]{6}$/i.test(a.colour || "") ? a.colour : "#1f5fbf";
    host.style.setProperty("--c", c);
    host.style.setProperty("--t", contrastText(c));
    title.textContent = a.title || config.name || "Chat";
    if (a.avatar_url && /^https?:\/\//.test(a.avatar_url)) { avatar.src = a.avatar_url; avatar.hidden = false; }
  }

  // `live`: it arrived now (counts as unread while the chat is closed), not from history.
  function render(m, live) {
    if (!m || seen[m.id]) { return; }
    seen[m.id] = true;
    var div = el("div", { "class": "m " + m.author, "data-id": m.id });
    if (m.author !== "contact") { div.appendChild(el("span", { "class": "who" }, m.author === "agent" ? "Team" : m.author === "bot" ? "Bot" : "")); }
    if (m.content) { div.appendChild(document.createTextNode(m.content)); }
    (m.attachments || []).forEach(function (a) {
      var link = el("a", { href: "#", "data-attachment": a.id }, "Attachment: " + (a.filename || "file"));
      link.addEventListener("click", function (ev) { ev.preventDefault(); download(a); });
      div.appendChild(el("br")); div.appendChild(link);
    });
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    if (live && m.author !== "contact" && !opened) { setUnread((state.unread || 0) + 1); }
  }
  function greet() {
    var g = config && config.appearance && config.appearance.greeting;
    if (g && !log.querySelector(".greeting")) { log.insertBefore(el("div", { "class": "m greeting" }, g), log.firstChild); }
  }
  function download(a) {
    fetch(api + "/attachments/" + encodeURIComponent(a.id), { headers: { "X-Widget-Session": state.token } })
      .then(function (r) { return r.ok ? r.blob() : Promise.reject(); })
      .then(function (b) { var u = URL.createObjectURL(b), l = document.createElement("a"); l.href = u; l.download = a.filename || "file"; l.click(); setTimeout(function () { URL.revokeObjectURL(u); }, 1000); })
      .catch(function () { showNotice("The file could not be downloaded."); });
  }

  function refreshComposer() {
    var needsUser = config && config.identity === "required" && !state.verified;
    var wantsPre = config && config.appearance && config.appearance.prechat && !state.conversation && !state.verified && !state.prechatDone;
    pre.hidden = !wantsPre || needsUser;
    form.hidden = wantsPre || needsUser;
    attach.disabled = !state.conversation;
    attach.title = state.conversation ? "Attach a file" : "Write a message first";
    if (needsUser) { showNotice("Sign in on this site to chat with us."); }
  }

  // ---- session, history, real time ----
  function startSession(identity) {
    var body = {};
    if (identity) {
      body.identifier = identity.identifier; body.identifier_hash = identity.identifier_hash;
      if (identity.email) { body.email = identity.email; }
      if (identity.name) { body.name = identity.name; }
    } else if (state.prechat) { body.name = state.prechat.name; body.email = state.prechat.email; }
    var keep = state.token; state.token = null;
    return request("POST", "/sessions", body).then(function (s) {
      state = { token: s.session_token, verified: s.verified, identifier: identity ? identity.identifier : null, unread: 0, prechatDone: state.prechatDone };
      save(); seen = {}; log.textContent = ""; greet();
      return s;
    }, function (err) { state.token = keep; throw err; });
  }
  function ensureSession() { return state.token ? Promise.resolve() : startSession(pendingUser); }

  function history() {
    if (!state.token) { return Promise.resolve(); }
    return request("GET", "/conversations").then(function (list) {
      var c = list && list.data && list.data[0];
      if (!c) { return; }
      state.conversation = c.id; save();
      // The whole thread, a page at a time (at most 25 pages), so the newest word is always shown.
      var pageFrom = function (after, left) {
        var q = "?limit=200" + (after ? "&after=" + encodeURIComponent(after) : "");
        return request("GET", "/conversations/" + c.id + "/messages" + q).then(function (page) {
          (page.data || []).forEach(function (m) { render(m, false); });
          if (page.next_cursor && left > 1) { return pageFrom(page.next_cursor, left - 1); }
        });
      };
      return pageFrom(null, 25);
    }).catch(function (err) { if (err.status === 401) { state = { unread: 0 }; save(); } });
  }

  function connect() {
    if (!state.token || socket) { return; }
    var url = api.replace(/^http/, "ws") + "/realtime" + (state.cursor ? "?cursor=" + state.cursor : "");
    socket = new WebSocket(url);
    socket.onopen = function () { socket.send(JSON.stringify({ type: "auth", session_token: state.token })); };
    socket.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.cursor) { state.cursor = f.cursor; save(); }
      // After (re)connecting, anything written while the socket was down comes from history.
      if (f.type === "ready") { backoff = 500; history(); }
      else if (f.type === "message") { if (!state.conversation) { state.conversation = f.message.conversation_id; save(); refreshComposer(); } render(f.message, true); typing.hidden = true; }
      else if (f.type === "typing") { typing.hidden = !f.typing; }
      else if (f.type === "csat") { askCsat(f.survey_path); }
      else if (f.type === "error" && f.code === "unauthenticated") { state = { unread: 0 }; save(); }
    };
    socket.onclose = function () { socket = null; if (state.token) { setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 15000); } };
  }

  function askCsat(path) {
    if (!/^\/csat\/[A-Za-z0-9._~-]+$/.test(path || "")) { return; }
    csat.textContent = "";
    csat.appendChild(el("p", {}, "How did we do?"));
    var stars = el("div", { "class": "stars", role: "group", "aria-label": "Rate this conversation" });
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", { type: "button", "data-rating": String(n), "aria-label": n + " out of 5" }, n + "★");
      b.addEventListener("click", function () {
        fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ rating: n }) })
          .then(function (r) { csat.textContent = ""; csat.appendChild(el("p", {}, r.ok || r.status === 409 ? "Thank you for your feedback!" : "Sorry, that did not work.")); });
      });
      stars.appendChild(b);
    });
    csat.appendChild(stars);
    csat.hidden = false;
    if (!opened) { setUnread((state.unread || 0) + 1); }
  }

  function sendMessage(text) {
    showNotice("");
    return ensureSession().then(function () {
      var path = state.conversation ? "/conversations/" + state.conversation + "/messages" : "/conversations";
      return request("POST", path, { content: text });
    }).then(function (r) {
      var m = r.message || r;
      if (r.conversation) { state.conversation = r.conversation.id; save(); refreshComposer(); }
      render(m, false); connect();
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim(); if (!text) { return; }
    send.disabled = true;
    sendMessage(text).then(function () { input.value = ""; csat.hidden = true; }, function (err) {
      showNotice(err.status === 429 ? "You are sending messages too fast. Wait a moment." : err.status === 401 ? "We could not confirm who you are." : "Your message was not sent. Try again.");
    }).then(function () { send.disabled = false; input.focus(); });
  });
  input.addEventListener("keydown", function (ev) { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } });
  var lastTyping = 0;
  input.addEventListener("input", function () {
    if (!socket || socket.readyState !== 1 || !state.conversation || Date.now() - lastTyping < 3000) { return; }
    lastTyping = Date.now();
    socket.send(JSON.stringify({ type: "typing", conversation_id: state.conversation, typing: true }));
  });
  pre.addEventListener("submit", function (ev) {
    ev.preventDefault();
    state.prechat = { name: preName.value.trim().slice(0, 200), email: preEmail.value.trim().slice(0, 254) };
    state.prechatDone = true; save(); refreshComposer(); input.focus();
  });
  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () {
    var f = file.files && file.files[0]; if (!f || !state.conversation) { return; }
    request("POST", "/conversations/" + state.conversation + "/attachments?filename=" + encodeURIComponent(f.name), f, true)
      .then(function (a) { return request("POST", "/conversations/" + state.conversation + "/messages", { content: "", attachment_ids: [a.id] }); })
      .then(function (m) { render(m, false); }, function (err) { showNotice(err.status === 413 ? "That file is too large." : err.status === 415 ? "That kind of file is not accepted." : "The file was not sent."); })
      .then(function () { file.value = ""; });
  });

  function open() {
    opened = true; panel.hidden = false; launcher.setAttribute("aria-expanded", "true"); launcher.setAttribute("aria-label", "Close chat");
    setUnread(0); refreshComposer(); input.focus(); log.scrollTop = log.scrollHeight;
  }
  function close() { opened = false; panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); launcher.setAttribute("aria-label", "Open chat"); launcher.focus(); }
  launcher.addEventListener("click", function () { if (opened) { close(); } else { open(); } });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { close(); } });

  window.$switchboard = {
    version: 1,
    open: open,
    close: close,
    // Identify a signed-in user of the site: `identifier_hash` is
    // hex(HMAC-SHA256(inbox secret, identifier)), computed on the site's server.
    setUser: function (identifier, info) {
      info = info || {};
      pendingUser = { identifier: String(identifier), identifier_hash: info.identifier_hash, email: info.email, name: info.name };
      if (state.token && state.verified && state.identifier === pendingUser.identifier) { return Promise.resolve(true); }
      if (socket) { socket.onclose = null; socket.close(); socket = null; }
      return startSession(pendingUser).then(function () {
        showNotice(""); refreshComposer(); return history().then(connect).then(function () { emit("user", { verified: true }); return true; });
      }, function (err) {
        state = { unread: 0 }; save(); pendingUser = null;
        window.$switchboard.error = err.code || "error";
        showNotice(err.status === 401 ? "We could not confirm who you are." : "The chat is unavailable right now.");
        refreshComposer(); emit("error", { code: err.code, status: err.status }); return false;
      });
    },
    // Forget this visitor on this browser (for a site's sign-out).
    reset: function () { if (socket) { socket.onclose = null; socket.close(); socket = null; } state = { unread: 0 }; save(); seen = {}; log.textContent = ""; pendingUser = null; greet(); setUnread(0); refreshComposer(); },
    error: null
  };

  function boot() {
    document.body.appendChild(host);
    setUnread(state.unread || 0);
    request("GET", "/config").then(function (c) {
      config = c; applyConfig(); greet(); refreshComposer();
      return history();
    }).then(function () { connect(); emit("ready", {}); }, function () {
      showNotice("The chat is unavailable right now."); emit("error", { code: "unavailable" });
    });
  }
  if (document.body) { boot(); } else { document.addEventListener("DOMContentLoaded", boot); }
})();
