// Switchboard console: live updates, keyboard navigation and in-place forms on top of the
// server-rendered pages. Every piece of HTML comes from the server (escaped there); this script
// only fetches pages and moves their parts into place.
(function () {
  "use strict";
  var meta = function (n) { var m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : ""; };
  var tenant = meta("tenant");
  if (!tenant) { return; }
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var live = $("#live");

  function announce(text) {
    if (!live) { return; }
    var p = document.createElement("p");
    p.textContent = text;
    live.appendChild(p);
    while (live.childNodes.length > 5) { live.removeChild(live.firstChild); }
  }

  function localTimes(root) {
    $$("time[datetime]", root).forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.textContent = d.toLocaleString([], { dateStyle: "short", timeStyle: "short" }); t.title = d.toString(); }
    });
  }

  function currentConversation() { var p = $("#pane"); return p ? p.getAttribute("data-conversation") : null; }
  function listQuery() { var l = $("#list"); return l ? l.getAttribute("data-query") : ""; }

  function fetchPage(url, opts) {
    opts = opts || {};
    opts.credentials = "same-origin";
    opts.headers = Object.assign({ "Accept": "text/html" }, opts.headers || {});
    return fetch(url, opts).then(function (res) {
      if (res.redirected && /\/app\/login/.test(res.url)) { window.location.assign("/app/login"); throw new Error("signed out"); }
      return res.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (!res.ok) {
          var d = $(".detail", doc);
          throw new Error(d ? d.textContent : "Request failed (" + res.status + ")");
        }
        return doc;
      });
    });
  }

  // Replace the parts of the open conversation that changed, keeping the composer (and any
  // draft in it) untouched.
  function swapPane(doc) {
    var fresh = $("#pane", doc), pane = $("#pane");
    if (!fresh || !pane) { return; }
    [".convo-head", "#timeline", ".side"].forEach(function (sel) {
      var a = $(sel, pane), b = $(sel, fresh);
      if (a && b) { a.replaceWith(b); }
    });
    pane.setAttribute("data-status", fresh.getAttribute("data-status"));
    localTimes(pane);
    showPresence();
    var tl = $("#timeline");
    if (tl) { tl.scrollTop = tl.scrollHeight; }
  }

  function swapList(doc) {
    var fresh = $("#list", doc) || doc.body, list = $("#list");
    if (!list || !fresh) { return; }
    var selected = $(".row.kb", list);
    var keep = selected ? selected.getAttribute("data-id") : null;
    list.innerHTML = fresh.innerHTML;
    if (keep) { var r = $('.row[data-id="' + keep + '"]', list); if (r) { r.classList.add("kb"); } }
    localTimes(list);
  }

  var timers = {};
  function soon(key, fn) { clearTimeout(timers[key]); timers[key] = setTimeout(fn, 120); }

  function refreshList() {
    if (!$("#list")) { return; }
    soon("list", function () {
      var id = currentConversation();
      var base = id ? "/app/t/" + tenant + "/conversations/" + id : "/app/t/" + tenant + "/inbox";
      fetchPage(base + "?" + listQuery() + "&fragment=list").then(swapList).catch(function () {});
    });
  }
  function refreshPane() {
    soon("pane", function () {
      var id = currentConversation();
      if (!id) { return; }
      fetchPage("/app/t/" + tenant + "/conversations/" + id + "?" + listQuery() + "&fragment=pane").then(swapPane).catch(function () {});
    });
  }

  // Forms inside the conversation post in place; the server answers with the page to show.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.closest || !form.closest("#pane-col") || form.method.toLowerCase() !== "post") { return; }
    ev.preventDefault();
    // The clicked button's name and value, added by hand (older browsers ignore FormData's
    // submitter argument).
    var body = new URLSearchParams(new FormData(form));
    if (ev.submitter && ev.submitter.name) { body.append(ev.submitter.name, ev.submitter.value); }
    var composer = form.id === "composer";
    var button = ev.submitter || $("button[type=submit]", form);
    if (button) { button.disabled = true; }
    fetchPage(form.action, { method: "POST", body: body, headers: { "Content-Type": "application/x-www-form-urlencoded" } })
      .then(function (doc) {
        if (composer) {
          $("#reply").value = "";
          $("#private").checked = false;
          $("#attachment-ids").value = "";
          $("#pending-files").textContent = "";
          sendTyping(false);
        }
        swapPane(doc);
        swapList(doc);
      })
      .catch(function (e) { announce(e.message); window.alert(e.message); })
      .then(function () { if (button) { button.disabled = false; } });
  });

  // Files for the next message: uploaded through the API at once, sent with the message.
  document.addEventListener("change", function (ev) {
    if (ev.target.id !== "attach") { return; }
    var id = currentConversation(), ids = $("#attachment-ids"), list = $("#pending-files");
    Array.prototype.slice.call(ev.target.files || []).forEach(function (file) {
      var li = document.createElement("li");
      li.textContent = file.name + " (uploading…)";
      list.appendChild(li);
      fetch("/v1/conversations/" + id + "/attachments?filename=" + encodeURIComponent(file.name), {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "X-CSRF-Token": meta("csrf-token"), "X-Switchboard-Tenant": tenant, "Content-Type": "application/octet-stream" }
      }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) { throw new Error(body.detail || "Upload failed"); }
          ids.value = ids.value ? ids.value + "," + body.id : body.id;
          li.textContent = file.name;
        });
      }).catch(function (e) { li.textContent = file.name + ": " + e.message; });
    });
    ev.target.value = "";
  });

  // Keyboard: j/k move, Enter opens, r reply, e resolve, a assign to me, / search.
  function rows() { return $$("#rows .row"); }
  function move(delta) {
    var all = rows(); if (!all.length) { return; }
    var i = all.findIndex(function (r) { return r.classList.contains("kb"); });
    if (i < 0) { i = all.findIndex(function (r) { return r.classList.contains("active"); }); }
    all.forEach(function (r) { r.classList.remove("kb"); });
    var next = all[Math.max(0, Math.min(all.length - 1, i + delta))];
    next.classList.add("kb");
    var a = $("a", next); if (a) { a.focus(); }
  }
  document.addEventListener("keydown", function (ev) {
    var t = ev.target, typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (ev.key === "Escape") { t.blur(); }
      if (t.id === "reply" && ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("#composer").requestSubmit(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var click = function (sel) { var b = $(sel); if (b) { ev.preventDefault(); b.click(); } };
    switch (ev.key) {
      case "j": ev.preventDefault(); move(1); break;
      case "k": ev.preventDefault(); move(-1); break;
      case "r": var r = $("#reply"); if (r) { ev.preventDefault(); r.focus(); } break;
      case "e": click("#resolve"); break;
      case "a": click("#assign-me"); break;
      case "/": var q = $("#q"); if (q) { ev.preventDefault(); q.focus(); } break;
    }
  });

  // Canned responses: type /code in the composer.
  var suggest = $("#suggest");
  function canned() { return $$("#canned-data li").map(function (li) { return { code: li.getAttribute("data-code"), content: li.textContent }; }); }
  function closeSuggest() {
    if (suggest) { suggest.hidden = true; suggest.innerHTML = ""; }
    var r = $("#reply"); if (r) { r.setAttribute("aria-expanded", "false"); r.removeAttribute("aria-activedescendant"); }
  }
  function pick(li) { var reply = $("#reply"); reply.value = li.getAttribute("data-content"); closeSuggest(); reply.focus(); }
  document.addEventListener("input", function (ev) {
    if (ev.target.id !== "reply") { return; }
    sendTyping(true);
    suggest = $("#suggest");
    var v = ev.target.value, m = /^\/(\S*)$/.exec(v);
    if (!m || !suggest) { closeSuggest(); return; }
    var found = canned().filter(function (c) { return c.code.indexOf(m[1]) === 0; }).slice(0, 8);
    suggest.innerHTML = "";
    found.forEach(function (c, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = "canned-option-" + i;
      li.setAttribute("data-content", c.content);
      li.setAttribute("aria-selected", i === 0 ? "true" : "false");
      li.textContent = "/" + c.code + " — " + c.content.slice(0, 80);
      li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(li); });
      suggest.appendChild(li);
    });
    suggest.hidden = found.length === 0;
    ev.target.setAttribute("aria-expanded", found.length ? "true" : "false");
    var first = suggest.querySelector("li");
    if (first) { ev.target.setAttribute("aria-activedescendant", first.id); } else { ev.target.removeAttribute("aria-activedescendant"); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target.id !== "reply" || !suggest || suggest.hidden) { return; }
    var items = $$("li", suggest), i = items.findIndex(function (li) { return li.getAttribute("aria-selected") === "true"; });
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      items.forEach(function (li) { li.setAttribute("aria-selected", "false"); });
      i = (i + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items[i].setAttribute("aria-selected", "true");
      ev.target.setAttribute("aria-activedescendant", items[i].id);
    } else if ((ev.key === "Enter" || ev.key === "Tab") && i >= 0) {
      ev.preventDefault(); pick(items[i]);
    } else if (ev.key === "Escape") { closeSuggest(); }
  }, true);

  // Real time: the agents' WebSocket, resumed from the last cursor after a drop.
  var socket = null, cursor = null, backoff = 500, lastTyping = 0, typingOff = null;
  function sendTyping(on) {
    var id = currentConversation();
    if (!socket || socket.readyState !== 1 || !id) { return; }
    var now = Date.now();
    clearTimeout(typingOff);
    if (on) {
      typingOff = setTimeout(function () { sendTyping(false); }, 5000);
      if (now - lastTyping < 3000) { return; }
      lastTyping = now;
    } else { lastTyping = 0; }
    socket.send(JSON.stringify({ type: "typing", conversation_id: id, typing: on }));
  }
  var typingHide = null, online = {};
  // Who else is here: a count in the top bar, and "(online)" beside people in the assignee menu.
  function showPresence() {
    var ids = Object.keys(online).filter(function (k) { return online[k]; });
    var el = $("#online");
    if (el) { el.textContent = ids.length + " online"; }
    $$("#assignee option").forEach(function (o) {
      var base = o.getAttribute("data-name") || o.textContent;
      o.setAttribute("data-name", base);
      o.textContent = online[o.value] ? base + " (online)" : base;
    });
  }
  function onFrame(f) {
    var conn = $("#conn");
    if (f.type === "ready") {
      cursor = f.cursor; backoff = 500;
      if (conn) { conn.classList.add("on"); conn.setAttribute("aria-label", "Live updates: connected"); }
      online = {};
      (f.online_users || []).forEach(function (u) { online[u] = true; });
      showPresence();
      return;
    }
    if (f.type === "presence") { online[f.user_id] = f.online; showPresence(); return; }
    if (f.type === "typing") {
      if (f.conversation_id !== currentConversation() || f.actor.id === meta("user-id")) { return; }
      var el = $("#typing"); if (!el) { return; }
      el.hidden = !f.typing;
      el.textContent = f.actor.type === "contact" ? "The customer is typing…" : "Someone else is typing…";
      clearTimeout(typingHide);
      if (f.typing) { typingHide = setTimeout(function () { el.hidden = true; }, 6000); }
      return;
    }
    if (f.type !== "event") { return; }
    cursor = f.cursor;
    var e = f.event, data = e.data || {};
    if (!/^(message|conversation|contact)\./.test(e.type)) { return; }
    refreshList();
    var conv = data.conversation_id || (data.conversation && data.conversation.id) || data.id;
    if (conv && conv === currentConversation()) { refreshPane(); }
    if (e.type === "message.created" && e.actor && e.actor.type === "contact") {
      announce("New message in conversation" + (data.conversation_number ? " #" + data.conversation_number : ""));
    }
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + location.host + "/v1/realtime?tenant=" + encodeURIComponent(tenant) + (cursor !== null ? "&cursor=" + cursor : "");
    try { socket = new WebSocket(url); } catch (e) { return retry(); }
    socket.onmessage = function (m) { try { onFrame(JSON.parse(m.data)); } catch (e) { /* ignore a malformed frame */ } };
    socket.onclose = function () {
      var c = $("#conn");
      if (c) { c.classList.remove("on"); c.setAttribute("aria-label", "Live updates: offline, reconnecting"); }
      retry();
    };
  }
  function retry() { setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 15000); }
  setInterval(function () { if (socket && socket.readyState === 1) { socket.send('{"type":"ping"}'); } }, 25000);

  // "Use this reply": the suggested answer goes into the composer, to edit before sending.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-insert]") : null;
    var r = $("#reply");
    if (!b || !r) { return; }
    r.value = b.getAttribute("data-insert");
    r.focus();
  });

  localTimes(document);
  var tl = $("#timeline"); if (tl) { tl.scrollTop = tl.scrollHeight; }
  connect();
})();
