/* The wall and station pages between server messages: ticking times, pages that rotate,
 * stale data shown as stale, and a socket that always comes back. No framework beyond htmx. */
(function () {
  "use strict";
  var body = document.body;
  /* How long without a heartbeat before the data is stale: the heartbeat says (a station
   * page's body does not), else the wall's body. */
  function staleAfter() {
    var beat = document.getElementById("wall-heartbeat");
    var seconds = (beat && beat.dataset.staleAfter) || body.dataset.staleAfter || "6";
    return parseFloat(seconds) * 1000;
  }
  var lastBeat = Date.now();
  var lastLive = Date.now();  // the last moment the page's data was live (timers stop there)
  var socketOpen = false;
  var revoked = false;
  var attempts = 0;
  var openedAt = Date.now();

  /* Reconnect after any close, with capped full jitter (a restart does not bring every
   * screen back at once). The ws extension only retries some close codes by itself. */
  htmx.config.wsReconnectDelay = function (retry) {
    return Math.random() * Math.min(30000, 3000 * Math.pow(2, retry));
  };

  /* The one duration format (core/formatting.py format_duration), rounded once to the
   * smallest unit shown, so a ticking time reads as the server drew it; in the page's words,
   * which the page gives (the ``duration_words`` tag), else English. */
  var durationWords = { days: "%(days)d d %(hours)d h", hours: "%(hours)d h %(minutes)02d min",
    minutes: "%(minutes)d min %(seconds)02d s" };
  try {
    var given = document.getElementById("duration-words");
    if (given) durationWords = JSON.parse(given.textContent);
  } catch (e) { /* the English words */ }
  function fill(words, figures) {
    return words.replace(/%\((\w+)\)(02)?d/g, function (_all, name, two) {
      var n = figures[name];
      return two && n < 10 ? "0" + n : String(n);
    });
  }
  function durationText(ms, words) {
    var s = Math.max(0, ms / 1000);
    if (Math.round(s / 60) >= 24 * 60) {
      var hours = Math.round(s / 3600);
      return fill(words.days, { days: Math.floor(hours / 24), hours: hours % 24 });
    }
    if (Math.round(s) >= 3600) {
      var minutes = Math.round(s / 60);
      return fill(words.hours, { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
    }
    var secs = Math.round(s);
    return fill(words.minutes, { minutes: Math.floor(secs / 60), seconds: secs % 60 });
  }
  function elapsed(ms) { return durationText(ms, durationWords); }

  /* The clock and the quiet hour are the plant's (the server's TIME_ZONE), as every other
   * time on the page, not the browser's: a TV's own zone is often left at the factory default. */
  var clockEl = document.getElementById("wall-clock");
  var plantZone = (clockEl && clockEl.dataset.timeZone) || undefined;
  var clockFormat = null, hourFormat = null;
  try {
    clockFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
      { timeZone: plantZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    hourFormat = new Intl.DateTimeFormat("en-GB", { timeZone: plantZone, hour: "2-digit", hourCycle: "h23" });
  } catch (e) {
    clockFormat = hourFormat = null;  // an unknown zone or an old browser: the browser's own time
  }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clockText(date) {
    if (clockFormat) { try { return clockFormat.format(date); } catch (e) { /* below */ } }
    return two(date.getHours()) + ":" + two(date.getMinutes());
  }
  function plantHour(date) {
    if (hourFormat) { try { return parseInt(hourFormat.format(date), 10) % 24; } catch (e) { /* below */ } }
    return date.getHours();
  }

  function tick() {
    var now = Date.now();
    checkStale();
    // Stale data is not live: times in state and pace marks stop where the last news left them.
    if (body.classList.contains("stale")) now = lastLive;
    else lastLive = now;
    document.querySelectorAll(".ticking[data-since]").forEach(function (el) {
      el.textContent = elapsed(now - Date.parse(el.dataset.since));
    });
    document.querySelectorAll(".tile-pace[data-counting-since]").forEach(function (el) {
      var cycle = parseFloat(el.dataset.cycleTime), target = parseFloat(el.dataset.target);
      if (!(cycle > 0 && target > 0)) return;
      var expected = Math.min(target, Math.floor((now - Date.parse(el.dataset.countingSince)) / 1000 / cycle));
      el.style.left = (100 * expected / target).toFixed(1) + "%";
    });
    var clock = document.getElementById("wall-clock");
    if (clock) clock.textContent = clockText(new Date());
    maybeReloadAtQuietHour();
  }

  function checkStale() {
    var banner = document.getElementById("wall-banner");
    var beat = document.getElementById("wall-heartbeat");
    if (!banner || !beat) return;
    var text = "";
    if (revoked) text = banner.dataset.textRevoked;
    else if (!socketOpen && "WebSocket" in window) text = banner.dataset.textSocket;
    else if (!beat.dataset.liveAsOf) text = banner.dataset.textNever;
    else if (beat.dataset.stale === "1" || Date.now() - lastBeat > staleAfter())
      text = banner.dataset.textStale.replace("%(time)s", beat.dataset.time);
    banner.hidden = !text;
    banner.textContent = text;
    body.classList.toggle("stale", !!text);
    // Each dimmed tile says when its data is from (CSS shows it while the page is stale).
    var label = beat.dataset.time ? banner.dataset.textTile.replace("%(time)s", beat.dataset.time) : "";
    body.style.setProperty("--last-update", JSON.stringify(label));
  }

  /* Pages: as many tiles as fit (at most page-size), the grid shaped to fill the screen. */
  var page = 0;
  function layout() {
    var grid = document.getElementById("wall-grid");
    if (!grid) return;
    var tiles = Array.prototype.filter.call(grid.children, function (el) { return el.classList.contains("tile"); });
    var perPage = Math.max(1, Math.min(tiles.length, parseInt(body.dataset.pageSize || "40", 10)));
    var pages = Math.max(1, Math.ceil(tiles.length / perPage));
    if (page >= pages) page = 0;
    var shown = Math.min(perPage, tiles.length) || 1;
    var ratio = grid.clientWidth / Math.max(1, grid.clientHeight);
    var cols = Math.max(1, Math.min(shown, Math.round(Math.sqrt(shown * ratio / 1.3))));
    var rows = Math.ceil(shown / cols);
    var shape = document.getElementById("wall") || grid;
    shape.style.setProperty("--cols", cols);
    shape.style.setProperty("--rows", rows);
    tiles.forEach(function (el, i) {
      if (Math.floor(i / perPage) === page) el.removeAttribute("data-page-hidden");
      else el.setAttribute("data-page-hidden", "");
    });
    var label = document.getElementById("wall-pages");
    if (label) label.textContent = pages > 1 ? (page + 1) + " / " + pages : "";
    return pages;
  }
  function rotate() {
    page += 1;
    layout();
  }

  function runCommand(el) {
    if (!el || !el.dataset.command) return;
    if (el.dataset.command === "reload") { location.reload(); return; }
    if (el.dataset.command === "identify") {
      var overlay = document.createElement("div");
      overlay.className = "identify";
      overlay.textContent = el.textContent;
      body.appendChild(overlay);
      setTimeout(function () { overlay.remove(); }, 10000);
    }
  }

  function maybeReloadAtQuietHour() {
    var hour = parseInt(body.dataset.reloadHour || "-1", 10);
    if (hour < 0 || Date.now() - openedAt < 12 * 3600 * 1000) return;
    if (plantHour(new Date()) === hour && socketOpen) location.reload();
  }

  body.addEventListener("htmx:wsOpen", function () { socketOpen = true; attempts = 0; checkStale(); });
  body.addEventListener("htmx:wsClose", function (evt) {
    socketOpen = false;
    var code = evt.detail.event.code;
    if (code === 4403) {  // revoked: never retried
      revoked = true;
      // A revoked kiosk screen stops showing the wall, not only its updates.
      if ("kiosk" in body.dataset) document.querySelectorAll("#wall-grid > .tile").forEach(function (el) { el.remove(); });
      checkStale();
      return;
    }
    // 1006/1011/1012/1013 are retried by the extension itself; every other close is retried here.
    if ([1006, 1011, 1012, 1013].indexOf(code) < 0) {
      var wrapper = evt.detail.socketWrapper;
      setTimeout(function () { wrapper.reconnect(); }, htmx.config.wsReconnectDelay(attempts++));
    }
    checkStale();
  });
  /* After all of a message's swaps: htmx restores swapped elements' own attributes during
   * the swap, so the grid's shape is set on its (never swapped) parent, afterwards. */
  body.addEventListener("htmx:wsAfterMessage", function (evt) {
    var message = evt.detail.message || "";
    if (message.indexOf('id="wall-heartbeat"') >= 0) lastBeat = Date.now();
    if (message.indexOf('id="wall-grid"') >= 0 || message.indexOf('id="tile-') >= 0) layout();
    if (message.indexOf('id="wall-command"') >= 0) runCommand(document.getElementById("wall-command"));
    tick();
  });
  body.addEventListener("htmx:afterSettle", function () { layout(); });
  /* A station action's answer replaces its panel: the focus goes to what it says (the outcome,
   * or the first error), not back to the top of the page, and a screen reader reads it. */
  body.addEventListener("htmx:afterSettle", function (evt) {
    var path = (evt.detail.pathInfo && evt.detail.pathInfo.requestPath) || "";
    if (!/\/stations\/\d+\/actions\//.test(path)) return;
    var said = document.querySelector("#station-actions .error, #station-actions .result");
    if (!said) return;
    said.setAttribute("tabindex", "-1");
    said.focus();
  });

  /* A browser without WebSockets asks for the same snapshot with HTMX instead. */
  if (!("WebSocket" in window) && body.dataset.fallbackUrl) {
    socketOpen = false;
    setInterval(function () {
      htmx.ajax("GET", body.dataset.fallbackUrl, { swap: "none" }).then(function () { lastBeat = Date.now(); });
    }, Math.max(2000, staleAfter() / 3));
  }

  window.addEventListener("resize", layout);
  layout();
  setInterval(tick, 1000);
  setInterval(rotate, parseInt(body.dataset.rotation || "20", 10) * 1000);
  tick();
})();
