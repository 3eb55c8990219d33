// The console's live updates: an EventSource on /console/stream swaps in the server-rendered (and
// server-escaped) call cards and alarm rows by key; the alarm actions post their forms with fetch;
// a new critical alarm beeps (Web Audio, generated) unless muted; the title counts unacknowledged
// alarms. No framework and no build step: the page works from this one file.
(function () {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const calls = document.getElementById("calls");
  const alarms = document.getElementById("alarms");
  const groups = document.getElementById("groups");
  const feedState = document.getElementById("feed-state");
  const muteButton = document.getElementById("mute");
  const message = document.getElementById("action-message");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const baseTitle = document.title;
  let lastId = Number(root.dataset.head || 0);
  let source = null;
  let retryTimer = null;
  // what the tests (and a curious operator) can read: how many cards and alerts arrived
  const stats = (window.anigateConsole = { received: 0, alerts: 0, connects: 0, lastId: lastId });

  // ---- filters ---------------------------------------------------------------------------------
  const filterForm = document.getElementById("filters");
  const params = new URLSearchParams(location.search);
  for (const name of ["site", "severity", "state"]) {
    const select = filterForm.elements[name];
    if (params.has(name)) select.value = params.get(name);
    select.addEventListener("change", () => {
      const p = new URLSearchParams(location.search);
      if (select.value) p.set(name, select.value); else p.delete(name);
      history.replaceState(null, "", location.pathname + (p.toString() ? "?" + p : ""));
      applyFilters();
    });
  }
  function matches(el) {
    const f = filterForm.elements;
    if (f.site.value && el.dataset.site !== f.site.value) return false;
    if (el.classList.contains("alarm")) {
      if (f.severity.value && el.dataset.severity !== f.severity.value) return false;
      if (f.state.value && el.dataset.state !== f.state.value) return false;
    }
    return true;
  }
  function applyFilters() {
    for (const el of root.querySelectorAll(".call-card, .alarm, .alarm-group")) el.hidden = !matches(el);
    refresh();
  }

  // ---- the count in the title, countdowns and ages ----------------------------------------------
  function refresh() {
    const unacked = alarms.querySelectorAll('.alarm[data-unacked="1"]').length;
    const counter = document.getElementById("unacked-count");
    counter.textContent = String(unacked);
    counter.toggleAttribute("data-zero", unacked === 0);
    document.title = unacked ? "(" + unacked + ") " + baseTitle : baseTitle;
    document.getElementById("no-alarms").hidden = alarms.children.length > 0;
    document.getElementById("no-calls").hidden = calls.children.length > 0;
    document.getElementById("no-groups").hidden = groups.children.length > 0;
  }
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    const now = Date.now();
    for (const el of alarms.querySelectorAll(".alarm")) {
      const age = el.querySelector(".age");
      if (age && el.dataset.since) age.textContent = clock((now - Date.parse(el.dataset.since)) / 1000) + " ago";
      const countdown = el.querySelector(".countdown");
      if (countdown && el.dataset.deadline) {
        const left = (Date.parse(el.dataset.deadline) - now) / 1000;
        countdown.textContent = left >= 0 ? "acknowledge within " + clock(left) : "acknowledgement overdue by " + clock(-left);
        countdown.classList.toggle("overdue", left < 0);
      }
    }
  }
  setInterval(tick, 1000);

  // ---- sound -------------------------------------------------------------------------------------
  let muted = localStorage.getItem("anigate-console-muted") === "1";
  let audio = null;
  function showMute() {
    muteButton.setAttribute("aria-pressed", muted ? "true" : "false");
    muteButton.textContent = muted ? "Alerts muted: unmute" : "Mute alerts";
  }
  muteButton.addEventListener("click", () => {
    muted = !muted;
    localStorage.setItem("anigate-console-muted", muted ? "1" : "0");
    showMute();
  });
  showMute();
  function beep() {
    stats.alerts += 1;
    if (muted) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const t = audio.currentTime;
      for (let i = 0; i < 3; i++) {  // three short two-tone pulses, like a lift alarm receiver
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = "square";
        osc.frequency.setValueAtTime(i % 2 ? 660 : 880, t + i * 0.3);
        gain.gain.setValueAtTime(0.0001, t + i * 0.3);
        gain.gain.exponentialRampToValueAtTime(0.2, t + i * 0.3 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.3 + 0.25);
        osc.connect(gain).connect(audio.destination);
        osc.start(t + i * 0.3);
        osc.stop(t + i * 0.3 + 0.26);
      }
      stats.played = (stats.played || 0) + 1;
    } catch (e) {
      // no audio device: the title and the highlighted row still tell
    }
  }

  // ---- applying updates ----------------------------------------------------------------------------
  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }
  function put(list, data, atTop) {
    const old = document.getElementById(data.key);
    if (data.remove) {
      if (old) old.remove();
      return;
    }
    const el = fragment(data.html);
    el.querySelectorAll('input[name="csrf_token"]').forEach((i) => (i.value = csrf));
    el.hidden = !matches(el);
    if (old) {
      // keep an open "More" box open while its alarm changes under the operator's hands
      const wasOpen = old.querySelector("details[open]");
      if (wasOpen && el.querySelector("details")) el.querySelector("details").open = true;
      old.replaceWith(el);
    } else if (atTop) {
      list.prepend(el);
    } else {
      list.append(el);
    }
  }
  function onEvent(kind, event) {
    const id = Number(event.lastEventId);
    if (id && id <= lastId) return;  // already applied (a replay after a reconnect)
    const data = JSON.parse(event.data);
    if (kind === "call") {
      const isNew = !document.getElementById(data.key);
      put(calls, data, true);
      if (isNew) stats.received += 1;
      while (calls.children.length > 50) calls.lastElementChild.remove();
    } else if (kind === "group") {
      const old = document.getElementById(data.key);
      if (old) old.remove();  // the site's newest counts go to the top
      put(groups, data, true);
      stats.groups = (stats.groups || 0) + 1;
    } else {
      put(alarms, data, false);
      if (data.alert) beep();
    }
    if (id) stats.lastId = lastId = id;
    refresh();
    tick();
  }

  // ---- the stream ------------------------------------------------------------------------------------
  function setState(state, text) {
    feedState.dataset.state = state;
    feedState.textContent = text;
  }
  function connect() {
    retryTimer = null;
    // the browser sends Last-Event-ID itself when it reconnects this source; a new source starts
    // from the last id applied
    source = new EventSource(root.dataset.stream + "?after=" + lastId);
    source.addEventListener("open", () => {
      stats.connects += 1;
      setState("live", "Live");
    });
    source.addEventListener("call", (e) => onEvent("call", e));
    source.addEventListener("alarm", (e) => onEvent("alarm", e));
    source.addEventListener("group", (e) => onEvent("group", e));
    source.addEventListener("message", (e) => {
      if (e.lastEventId) stats.lastId = lastId = Math.max(lastId, Number(e.lastEventId));
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // refused (503 when the server is full, 401 after a logout): try again with a new source
        setState("down", "Disconnected: retrying");
        source.close();
        if (!retryTimer) retryTimer = setTimeout(connect, 3000);
      } else {
        setState("reconnecting", "Reconnecting…");
      }
    });
  }
  // for the tests: cut the connection as a network failure would, then open a new one
  window.anigateConsole.reconnect = function () {
    if (source) source.close();
    setState("reconnecting", "Reconnecting…");
    connect();
  };

  // ---- actions -----------------------------------------------------------------------------------------
  root.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.classList.contains("action-form")) return;
    e.preventDefault();
    const body = new FormData(form);
    body.set("csrf_token", csrf);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const resp = await fetch(form.action, {
        method: "POST",
        body: body,
        headers: { Accept: "application/json", "X-CSRFToken": csrf },
        credentials: "same-origin",
      });
      let text = resp.statusText;
      try { text = (await resp.json()).message || text; } catch (err) { /* not JSON */ }
      message.hidden = false;
      message.className = "flash " + (resp.ok ? "flash-success" : "flash-error");
      message.textContent = text;
    } catch (err) {
      message.hidden = false;
      message.className = "flash flash-error";
      message.textContent = "The action did not reach the server: " + err;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });

  applyFilters();
  tick();
  connect();
})();
