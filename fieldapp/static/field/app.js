/* 日照网格员 — the grid officer's mobile web app.
 *
 * One dependency-free script (plus the vendored Leaflet). Everything the officer files goes to
 * IndexedDB first ("waiting"), then a sync loop sends it: the report, then each photo. The
 * report's id is a UUID made here, so a retry after a lost answer is harmless (the server
 * answers 200 for a repeat). Nothing the server refuses is dropped: it is kept as "needs
 * attention" with the server's message until the officer corrects or deletes it.
 *
 * All user and server text is put on the page with textContent, never innerHTML.
 */
(function () {
  "use strict";

  const T = window.I18N || {};
  const CFG = window.FIELD_CONFIG || {};
  const API = CFG.api || "/api/v1";
  const LANG = CFG.language || "zh";
  const GROUP_THRESHOLD = CFG.group_threshold || 5;
  const MAX_PHOTO_BYTES = CFG.max_photo_bytes || 10 * 1024 * 1024;
  const CHINA_TZ = CFG.time_zone; // fieldapp.domain.CHINA_TZ, from the server
  const SYNC_INTERVAL_MS = 30 * 1000;
  const BACKOFF_BASE_MS = 5 * 1000;
  const BACKOFF_MAX_MS = 15 * 60 * 1000;
  const KEEP_SENT_MS = 24 * 3600 * 1000;
  const LIMITS = { title: 100, description: 2000, address: 200 };
  const MAX_PARTIES = 20;
  const ID_NUMBER = /^(\d{17}[\dXx]|\d{15})$/;
  const PHONE = /^\+?[\d\- ]{5,20}$/;
  // Where the map opens before the first position: the middle of Rizhao.
  const DEFAULT_VIEW = { lat: 35.42, lon: 119.46, zoom: 10 };

  // ---- small helpers -----------------------------------------------------------------------

  function t(key, vars) {
    let text = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    if (vars) {
      text = text.replace(/%\((\w+)\)s/g, (m, name) =>
        Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m
      );
    }
    return text;
  }

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  /** An element with text children only: user data never becomes markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  const chars = (s) => Array.from(s || "").length; // code points, as the server counts
  const pad = (n) => String(n).padStart(2, "0");
  const COLON = LANG === "zh" ? "：" : ": ";

  function uuid4() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function isoWithOffset(d) {
    const off = -d.getTimezoneOffset();
    const a = Math.abs(off);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
      `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
      `${off >= 0 ? "+" : "-"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`
    );
  }

  function localInputValue(d) {
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
      `T${pad(d.getHours())}:${pad(d.getMinutes())}`
    );
  }

  const DATE_TIME = new Intl.DateTimeFormat(CFG.locale, {
    year: "numeric",
    month: "long",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZone: CHINA_TZ,
  });
  const TIME = new Intl.DateTimeFormat(CFG.locale, {
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZone: CHINA_TZ,
  });

  function formatDateTime(value) {
    const d = value instanceof Date ? value : new Date(value);
    return isNaN(d.getTime()) ? "" : DATE_TIME.format(d);
  }

  /** Today's date where the server counts days (China Standard Time), as YYYY-MM-DD. */
  function todayInChina() {
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-US", {
      timeZone: CHINA_TZ,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(new Date())) {
      parts[p.type] = p.value;
    }
    return `${parts.year}-${parts.month}-${parts.day}`;
  }

  let toastTimer = null;
  // The id of the outbox item a "sending…" toast is about: when its row turns 已发送, the
  // toast says so too and goes (it used to stay, contradicting the row).
  let toastItem = null;
  function toast(message, itemId) {
    const node = $("#toast");
    node.textContent = message;
    show(node, true);
    toastItem = itemId || null;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { show(node, false); toastItem = null; }, 5000);
  }

  function settleToast(items) {
    if (!toastItem) return;
    const item = items.find((i) => i.id === toastItem);
    if (!item || item.state === "sent") {
      toastItem = null;
      const node = $("#toast");
      node.textContent = t("state_sent");
      clearTimeout(toastTimer);
      toastTimer = setTimeout(() => show(node, false), 1500);
    } else if (item.state !== "waiting" && item.state !== "sending") {
      toastItem = null; // needs attention: the row says why; the toast must not say "sending"
      show($("#toast"), false);
    }
  }

  // ---- IndexedDB -----------------------------------------------------------------------------

  const DB_NAME = "fieldapp";
  const DB_VERSION = 1;
  let dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
          if (!db.objectStoreNames.contains("outbox")) {
            db.createObjectStore("outbox", { keyPath: "id" });
          }
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  /** Run `fn(store)` in one transaction; resolves with the last request's result once the
   * transaction has committed (so "saved" means saved). */
  async function withStore(name, mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(name, mode);
      let result;
      const request = fn(tx.objectStore(name), (value) => (result = value));
      if (request) request.onsuccess = () => (result = request.result);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
    });
  }

  const kv = {
    get: (key) => withStore("kv", "readonly", (s) => s.get(key)),
    set: (key, value) => withStore("kv", "readwrite", (s) => s.put(value, key)),
    del: (key) => withStore("kv", "readwrite", (s) => s.delete(key)),
  };

  const outbox = {
    all: () => withStore("outbox", "readonly", (s) => s.getAll()),
    get: (id) => withStore("outbox", "readonly", (s) => s.get(id)),
    put: (item) => withStore("outbox", "readwrite", (s) => s.put(item)),
    del: (id) => withStore("outbox", "readwrite", (s) => s.delete(id)),
    /** Read-modify-write in one transaction; `change(item)` edits the item in place. */
    update: (id, change) =>
      withStore("outbox", "readwrite", (s, setResult) => {
        const request = s.get(id);
        request.onsuccess = () => {
          const item = request.result;
          if (!item) return;
          change(item);
          s.put(item);
          setResult(item);
        };
      }),
  };

  // ---- the API -------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.code = err.code || null;
      this.fields = err.fields || null;
    }
  }

  class NetworkError extends Error {}

  let auth = null; // {token, expires_at, user}

  async function api(path, { method = "GET", json, form, timeout = 20000 } = {}) {
    const headers = { Accept: "application/json" };
    if (auth) headers.Authorization = `Bearer ${auth.token}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    const url = `${API}${path}${path.includes("?") ? "&" : "?"}lang=${LANG}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let response;
    let data = null;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: controller.signal,
        credentials: "same-origin",
      });
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
    } catch (e) {
      setNetwork(false);
      throw new NetworkError(t("network_error"));
    } finally {
      clearTimeout(timer);
    }
    // A response that came from the service worker's cache says nothing about the network.
    if (response.headers.get("X-Field-Cache") !== "hit") setNetwork(true);
    if (!response.ok) {
      const error = new HttpError(response.status, data);
      if (response.status === 401 && auth && !path.startsWith("/auth/")) signInAgain();
      throw error;
    }
    return { status: response.status, data };
  }

  // ---- network state -------------------------------------------------------------------------

  let online = navigator.onLine;

  function setNetwork(isOnline) {
    online = isOnline;
    const net = $("#net");
    net.dataset.state = isOnline ? "online" : "offline";
    net.textContent = isOnline ? t("online") : t("offline").split(/[:：]/)[0];
    show($("#offline-note"), !isOnline);
  }

  // ---- screens -------------------------------------------------------------------------------

  function showScreen(name) {
    show($("#screen-signin"), name === "signin");
    show($("#screen-app"), name === "app");
    show($("#sign-out"), name === "app");
  }

  function showSignIn(note) {
    showScreen("signin");
    const noteNode = $("#signin-note");
    noteNode.textContent = note || "";
    show(noteNode, !!note);
    kv.get("last_user").then((user) => {
      if (user && !$("#signin-username").value) $("#signin-username").value = user;
    });
    ($("#signin-username").value ? $("#signin-password") : $("#signin-username")).focus();
  }

  /** The token was refused: sign in again, keeping everything queued. */
  function signInAgain() {
    auth = null;
    kv.del("auth");
    showSignIn(t("sign_in_again"));
  }

  /** The sign-in form asks for the user's own password: the server refused a one-time one. */
  function askForOwnPassword(ask) {
    const fieldset = $("#signin-new");
    show(fieldset, ask);
    fieldset.disabled = !ask;
    $("#signin-submit").textContent = ask ? t("set_password_and_sign_in") : t("sign_in");
    if (ask) $("#signin-new-password").focus();
  }

  async function onSignIn(event) {
    event.preventDefault();
    const username = $("#signin-username").value.trim();
    const password = $("#signin-password").value;
    const choosing = !$("#signin-new").disabled;
    const newPassword = $("#signin-new-password").value;
    const errorNode = $("#signin-error");
    show(errorNode, false);
    const fail = (message) => {
      errorNode.textContent = message;
      show(errorNode, true);
    };
    if (!username || !password || (choosing && !newPassword)) return fail(t("v_required"));
    if (choosing && newPassword !== $("#signin-confirm-password").value) {
      return fail(t("passwords_differ"));
    }
    const button = $("#signin-submit");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = t("signing_in");
    try {
      const device = `web ${(navigator.userAgentData && navigator.userAgentData.platform) ||
        navigator.platform || ""}`.trim().slice(0, 60);
      const { data } = choosing
        ? await api("/auth/password", {
            method: "POST",
            json: { username, password, new_password: newPassword, device },
          })
        : await api("/auth/token", { method: "POST", json: { username, password, device } });
      auth = { token: data.token, expires_at: data.expires_at, user: data.user };
      await kv.set("auth", auth);
      await kv.set("last_user", data.user.username);
      for (const id of ["#signin-password", "#signin-new-password", "#signin-confirm-password"]) {
        $(id).value = "";
      }
      button.textContent = label;
      askForOwnPassword(false);
      await showApp();
      sync({ force: true });
    } catch (e) {
      button.textContent = label;
      if (e.code === "password_change_required") {
        askForOwnPassword(true);
        return fail(e.message);
      }
      let message = e.message;
      if (e instanceof NetworkError) message = t("sign_in_offline");
      else if (e.status === 429) message = e.message || t("rate_limited");
      else if (e.fields) message = [e.message, ...Object.values(e.fields)].join(" ");
      fail(message);
    } finally {
      button.disabled = false;
    }
  }

  async function onSignOut() {
    const waiting = (await outbox.all()).filter(
      (i) => i.owner === auth.user.username && i.state !== "sent"
    ).length;
    if (waiting && !window.confirm(t("sign_out_confirm", { n: waiting }))) return;
    api("/auth/token", { method: "DELETE", timeout: 5000 }).catch(() => {});
    const username = auth.user.username;
    auth = null;
    await kv.del("auth");
    // Personal data of a signed-out officer does not stay on a shared phone (the queue does:
    // it is sent after the next sign-in).
    await kv.del(`me:${username}`);
    await kv.del(`reports:${username}`);
    if (window.caches) caches.delete("field-api").catch(() => {});
    $("#server-list").replaceChildren();
    showSignIn();
  }

  let appStarted = false;

  async function showApp() {
    showScreen("app");
    $("#who").textContent = t("signed_in_as", {
      name: auth.user.display_name || auth.user.username,
    });
    if (!appStarted) {
      appStarted = true;
      initMap();
      resetForm();
      startGeolocation();
    }
    map.invalidateSize();
    loadMe();
    loadCategories();
    renderCheckin();
    loadCheckins();
    renderQueue();
  }

  /** Today's check-in as the server has it: a new phone (or a cleared one) must not offer
  a check-in the officer already made elsewhere. */
  async function loadCheckins() {
    if (navigator.onLine === false) return;
    try {
      const { data } = await api("/checkins?days=7");
      if ((data.days || []).includes(todayInChina())) {
        await kv.set(`checkin_sent:${auth.user.username}`, todayInChina());
        await renderCheckin();
      }
    } catch (e) {
      /* offline or refused: the phone's own record stands */
    }
  }

  function switchTab(name) {
    for (const button of $$(".tabs [data-tab]")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    show($("#tab-new"), name === "new");
    show($("#tab-list"), name === "list");
    show($("#report-page"), false);
    if (name === "new" && map) map.invalidateSize();
    if (name === "list") {
      renderQueue();
      loadServerList(1);
    }
    window.scrollTo(0, 0);
  }

  // ---- reference data: me, categories --------------------------------------------------------

  let ownCells = new Set();

  async function loadMe() {
    const key = `me:${auth.user.username}`;
    const cached = await kv.get(key);
    if (cached) ownCells = new Set(cached.cells.map((c) => c.code));
    if (navigator.onLine === false) return;
    try {
      const { data } = await api("/me");
      ownCells = new Set(data.cells.map((c) => c.code));
      await kv.set(key, data);
    } catch (e) {
      /* offline: the cached copy will do */
    }
  }

  async function loadCategories() {
    const key = `categories:${LANG}`;
    const cached = await kv.get(key);
    if (cached) fillCategories(cached);
    try {
      if (navigator.onLine === false) throw new NetworkError();
      const { data } = await api("/categories");
      await kv.set(key, data.categories);
      fillCategories(data.categories);
    } catch (e) {
      /* offline: keep the cached list */
    }
    show($("#categories-note"), $("#f-category").options.length <= 1);
  }

  function fillCategories(categories) {
    const select = $("#f-category");
    const chosen = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    for (const c of categories) select.append(el("option", { value: c.code, text: c.name }));
    if (chosen) select.value = chosen;
    show($("#categories-note"), categories.length === 0);
  }

  // ---- map and position ----------------------------------------------------------------------

  let map = null;
  let pin = null;
  let accuracyCircle = null;
  let cellsLayer = null;
  let cellsBox = null;
  let position = null; // {lon, lat, accuracy, manual}
  let watchId = null;
  let watchTimer = null;
  let locateTimer = null;
  let locateSeq = 0;
  let locatedCell = null;

  function initMap() {
    map = L.map("map", {
      attributionControl: !!CFG.tile_url,
      zoomControl: true,
    }).setView([DEFAULT_VIEW.lat, DEFAULT_VIEW.lon], DEFAULT_VIEW.zoom);
    if (CFG.tile_url) {
      L.tileLayer(CFG.tile_url, { attribution: CFG.tile_attribution || "", maxZoom: 19 }).addTo(
        map
      );
    }
    map.on("click", (e) => setPosition(e.latlng.lng, e.latlng.lat, null, true));
  }

  function startGeolocation() {
    if (!("geolocation" in navigator)) {
      $("#pos-status").textContent = t("geo_unsupported");
      return;
    }
    stopGeolocation();
    if (!position) $("#pos-status").textContent = t("locating");
    watchId = navigator.geolocation.watchPosition(
      (p) => {
        if (position && position.manual) return;
        setPosition(p.coords.longitude, p.coords.latitude, p.coords.accuracy, false);
        // Good enough: stop the GPS to save the battery.
        if (p.coords.accuracy <= 20) stopGeolocation();
      },
      (err) => {
        if (position) return;
        $("#pos-status").textContent = err.code === 1 ? t("geo_denied") : t("geo_unavailable");
      },
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 }
    );
    watchTimer = setTimeout(stopGeolocation, 120 * 1000);
  }

  function stopGeolocation() {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
    clearTimeout(watchTimer);
  }

  function setPosition(lon, lat, accuracy, manual) {
    const first = !position;
    position = { lon, lat, accuracy: manual ? null : accuracy, manual };
    const latlng = [lat, lon];
    if (!pin) {
      pin = L.marker(latlng, { draggable: true, autoPan: true }).addTo(map);
      pin.on("dragend", () => {
        const p = pin.getLatLng();
        stopGeolocation();
        setPosition(p.lng, p.lat, null, true);
      });
    } else {
      pin.setLatLng(latlng);
    }
    if (accuracyCircle) accuracyCircle.remove();
    accuracyCircle = null;
    if (!manual && accuracy) {
      accuracyCircle = L.circle(latlng, {
        radius: accuracy,
        weight: 1,
        color: "#1565c0",
        fillOpacity: 0.08,
        interactive: false,
      }).addTo(map);
    }
    if (first || !manual) map.setView(latlng, Math.max(map.getZoom(), 15));
    const where = manual || accuracy == null
      ? t("position_by_hand") : t("accuracy", { m: Math.round(accuracy) });
    $("#pos-status").textContent = `${where}${LANG === "zh" ? "。" : ". "}${t("drag_pin")}`;
    setFieldError("position", "");
    clearTimeout(locateTimer);
    locateTimer = setTimeout(findCell, 500);
  }

  async function findCell() {
    const seq = ++locateSeq;
    const p = position;
    const status = $("#cell-status");
    status.classList.remove("warn");
    if (!p) return;
    if (!navigator.onLine) {
      status.textContent = t("cell_offline");
      return;
    }
    status.textContent = t("cell_finding");
    try {
      const { data } = await api(`/locate?lon=${p.lon.toFixed(7)}&lat=${p.lat.toFixed(7)}`, {
        timeout: 10000,
      });
      if (seq !== locateSeq) return;
      if (data.found) {
        locatedCell = data.cell;
        const names = [data.cell.name, data.village && data.village.name,
          data.township && data.township.name].filter(Boolean);
        status.textContent = `${t("cell")}${COLON}${names.join(" · ")}`;
        if (ownCells.size && !ownCells.has(data.cell.code)) {
          status.append(el("br"), el("span", { class: "warn", text: t("cell_not_own") }));
        }
      } else {
        locatedCell = null;
        status.classList.add("warn");
        const nearest = data.nearest;
        status.textContent = nearest
          ? t("cell_outside", { name: nearest.cell.name, m: Math.round(nearest.distance_m) })
          : data.message || "";
      }
      drawCells(p);
    } catch (e) {
      if (seq !== locateSeq) return;
      status.textContent = e instanceof NetworkError ? t("cell_offline") : e.message;
    }
  }

  /** Cell outlines around the pin, the located one highlighted: the only "base map" when
   * no tiles are configured. */
  async function drawCells(p) {
    const margin = 0.012;
    const inside =
      cellsBox &&
      p.lon > cellsBox[0] + margin / 3 && p.lon < cellsBox[2] - margin / 3 &&
      p.lat > cellsBox[1] + margin / 3 && p.lat < cellsBox[3] - margin / 3;
    if (!inside) {
      const box = [p.lon - margin, p.lat - margin, p.lon + margin, p.lat + margin];
      try {
        const { data } = await api(
          `/layers/areas?level=cell&bbox=${box.map((v) => v.toFixed(5)).join(",")}`,
          { timeout: 15000 }
        );
        if (cellsLayer) cellsLayer.remove();
        cellsLayer = L.geoJSON(data, { interactive: false }).addTo(map);
        cellsBox = box;
      } catch (e) {
        return;
      }
    }
    const code = locatedCell && locatedCell.code;
    cellsLayer.setStyle((feature) =>
      feature.properties.code === code
        ? { color: "#b71c1c", weight: 3, fillOpacity: 0.12, className: "cell-located" }
        : { color: "#607d8b", weight: 1, fillOpacity: 0, dashArray: "4 3" }
    );
    cellsLayer.eachLayer((layer) => {
      if (layer.feature.properties.code === code) {
        layer.bringToFront();
        if (layer._path) layer._path.classList.add("cell-located");
      } else if (layer._path) {
        layer._path.classList.remove("cell-located");
      }
    });
  }

  // ---- the report form -----------------------------------------------------------------------

  let formPhotos = []; // {key, blob, name, type}
  let previewUrls = [];
  let editing = null; // the outbox item being corrected

  function resetForm() {
    const form = $("#report-form");
    form.reset();
    const now = new Date();
    $("#f-occurred_at").value = localInputValue(now);
    $("#f-occurred_at").max = localInputValue(new Date(now.getTime() + 5 * 60 * 1000));
    $("#parties").replaceChildren();
    formPhotos = [];
    renderPreviews();
    editing = null;
    show($("#edit-banner"), false);
    clearErrors();
    updateGroupHint();
    updateCounter();
    if (position && position.manual) {
      // A new report starts from where the officer is, not where the last pin was dragged.
      position.manual = false;
      startGeolocation();
    }
  }

  function addPartyRow(values) {
    const container = $("#parties");
    if (container.children.length >= MAX_PARTIES) {
      setFieldError("parties", t("v_max_parties", { n: MAX_PARTIES }));
      return;
    }
    const row = $("#party-row").content.firstElementChild.cloneNode(true);
    for (const input of $$("[data-party]", row)) {
      input.value = (values && values[input.dataset.party]) || "";
    }
    $(".remove-party", row).addEventListener("click", () => {
      row.remove();
      setFieldError("parties", "");
    });
    container.append(row);
    if (!values) $("[data-party=name]", row).focus();
  }

  function onPhotosChosen(event) {
    setFieldError("photos", "");
    for (const file of Array.from(event.target.files || [])) {
      if (file.type && !file.type.startsWith("image/")) continue;
      if (file.size > MAX_PHOTO_BYTES) {
        setFieldError("photos", t("v_photo_too_large", {
          mb: Math.round(MAX_PHOTO_BYTES / 1024 / 1024),
        }));
        continue;
      }
      formPhotos.push({ key: uuid4(), blob: file, name: file.name || "photo.jpg",
        type: file.type || "image/jpeg" });
    }
    event.target.value = ""; // the same photo can be chosen again after removing it
    renderPreviews();
  }

  function renderPreviews() {
    for (const url of previewUrls) URL.revokeObjectURL(url);
    previewUrls = [];
    const box = $("#previews");
    box.replaceChildren();
    for (const photo of formPhotos) {
      const url = URL.createObjectURL(photo.blob);
      previewUrls.push(url);
      box.append(
        el("figure", { class: "preview" },
          el("img", { src: url, alt: photo.name }),
          el("button", {
            type: "button",
            class: "remove-photo",
            "aria-label": t("remove"),
            text: "×",
            onclick: () => {
              formPhotos = formPhotos.filter((p) => p.key !== photo.key);
              renderPreviews();
            },
          }))
      );
    }
  }

  function updateGroupHint() {
    const n = Number($("#f-people_involved").value);
    const hint = $("#group-hint");
    hint.textContent = t("group_incident", { n: GROUP_THRESHOLD });
    show(hint, Number.isFinite(n) && n >= GROUP_THRESHOLD);
  }

  function updateCounter() {
    const text = $("#f-description").value.trim();
    $('[data-counter-for="description"]').textContent = `${chars(text)} / ${LIMITS.description}`;
  }

  /** The report body as the API wants it, and the field errors the server would give. */
  function collect() {
    const errors = {};
    const body = {};
    if (!position) {
      errors.position = t("position_required");
    } else {
      body.lon = Number(position.lon.toFixed(7));
      body.lat = Number(position.lat.toFixed(7));
      body.crs = "wgs84";
      if (position.accuracy != null && position.accuracy <= 100000) {
        body.accuracy_m = Math.round(position.accuracy * 10) / 10;
      }
    }
    const when = $("#f-occurred_at").value;
    const occurred = when ? new Date(when) : null;
    if (!when) errors.occurred_at = t("v_required");
    else if (!occurred || isNaN(occurred.getTime())) errors.occurred_at = t("v_bad_time");
    else if (occurred.getTime() > Date.now() + 5 * 60 * 1000) errors.occurred_at = t("v_future");
    else if (occurred.getTime() < Date.now() - 366 * 24 * 3600 * 1000) {
      errors.occurred_at = t("v_too_old");
    } else body.occurred_at = isoWithOffset(occurred);

    body.category = $("#f-category").value;
    if (!body.category) errors.category = t("v_required");
    const severity = $('input[name="severity"]:checked');
    if (severity) body.severity = severity.value;
    else errors.severity = t("v_required");

    const peopleText = $("#f-people_involved").value.trim();
    const people = Number(peopleText);
    // No default and no zero: someone is involved in a dispute (the server says the same).
    if (peopleText === "" || !Number.isInteger(people) || people < 1 || people > 100000) {
      errors.people_involved = t("v_people");
    } else body.people_involved = people;

    for (const [name, limit] of Object.entries(LIMITS)) {
      const text = $(`#f-${name}`).value.trim();
      if (!text) {
        if (name !== "address") errors[name] = t("v_required");
        continue;
      }
      if (chars(text) > limit) {
        errors[name] = t("v_too_long", { length: chars(text), limit });
        continue;
      }
      body[name] = text;
    }

    const parties = [];
    $$("#parties .party").forEach((row) => {
      const value = {};
      for (const input of $$("[data-party]", row)) {
        const text = input.value.trim();
        if (text) value[input.dataset.party] = text;
      }
      if (!Object.keys(value).length) return; // an empty row is not a party
      const i = parties.length;
      if (!value.name || chars(value.name) > 50) errors[`parties[${i}].name`] = t("v_party_name");
      if (value.id_number && !ID_NUMBER.test(value.id_number)) {
        errors[`parties[${i}].id_number`] = t("v_id_number");
      }
      if (value.phone && !PHONE.test(value.phone)) errors[`parties[${i}].phone`] = t("v_phone");
      if (value.role && chars(value.role) > 30) errors[`parties[${i}].role`] = t("v_role");
      row.dataset.index = String(i);
      parties.push(value);
    });
    if (parties.length > MAX_PARTIES) errors.parties = t("v_max_parties", { n: MAX_PARTIES });
    if (parties.length) body.parties = parties;
    return { body, errors };
  }

  function setFieldError(name, message) {
    const node = $(`[data-error-for="${name}"]`);
    if (!node) return false;
    node.textContent = message || "";
    const field = $(`#f-${name}`);
    if (field) field.setAttribute("aria-invalid", message ? "true" : "false");
    return true;
  }

  function clearErrors() {
    for (const node of $$("#report-form .field-error")) node.textContent = "";
    for (const node of $$("#report-form [aria-invalid]")) node.removeAttribute("aria-invalid");
    show($("#form-error"), false);
  }

  const POSITION_FIELDS = new Set(["lon", "lat", "crs", "accuracy_m"]);

  /** Put each message next to its field, the server's as well as ours. Keys as the server
   * names them: "title", "parties[1].phone", "lat", … */
  function showErrors(fields, message) {
    clearErrors();
    const leftover = [];
    const rows = $$("#parties .party");
    for (const [key, text] of Object.entries(fields || {})) {
      const party = /^parties\[(\d+)\]\.?(\w*)$/.exec(key);
      if (party) {
        const row = rows.find((r) => r.dataset.index === party[1]) || rows[Number(party[1])];
        const node = row && $(`[data-party-error="${party[2] || "name"}"]`, row);
        if (node) {
          node.textContent = text;
          continue;
        }
      }
      const name = POSITION_FIELDS.has(key) ? "position" : key;
      if (!setFieldError(name, text)) leftover.push(`${key}: ${text}`);
    }
    const formError = $("#form-error");
    const summary = [message || t("fix_fields"), ...leftover].join("\n");
    formError.textContent = summary;
    show(formError, true);
    const first = $$("#report-form .field-error").find((n) => n.textContent);
    (first || formError).scrollIntoView({ block: "center", behavior: "smooth" });
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    if (!auth) return signInAgain();
    const { body, errors } = collect();
    if (Object.keys(errors).length) {
      showErrors(errors);
      return;
    }
    // A correction after a 400 keeps its id (the server stored nothing); after a 409 the id
    // is taken by a different report, so the correction becomes a new one.
    const reuse = editing && editing.error_code !== "conflict";
    const id = reuse ? editing.id : uuid4();
    const item = {
      id,
      kind: "report",
      owner: auth.user.username,
      body: { id, ...body },
      photos: formPhotos.map((p) => ({
        key: p.key, blob: p.blob, name: p.name, type: p.type, sent: false,
      })),
      state: "waiting",
      report_sent: false,
      attempts: 0,
      next_attempt_at: 0,
      created_at: Date.now(),
      error: null,
      error_code: null,
      fields: null,
    };
    try {
      await outbox.put(item);
      if (editing && !reuse) await outbox.del(editing.id);
    } catch (e) {
      const formError = $("#form-error");
      formError.textContent = t("save_failed", { error: e.message || String(e) });
      show(formError, true);
      return;
    }
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist();
    resetForm();
    if (online && navigator.onLine) toast(t("saved_sending"), item.id);
    else toast(t("saved_waiting"));
    switchTab("list");
    sync({ force: true });
  }

  /** Put a report that needs attention back in the form, with the server's messages. */
  function correct(item) {
    resetForm();
    editing = item;
    const b = item.body;
    if (typeof b.lon === "number" && typeof b.lat === "number") {
      stopGeolocation();
      setPosition(b.lon, b.lat, b.accuracy_m == null ? null : b.accuracy_m, false);
      position.manual = true; // keep the reported place; "use my location" moves it
    }
    const occurred = b.occurred_at ? new Date(b.occurred_at) : null;
    if (occurred && !isNaN(occurred.getTime())) {
      $("#f-occurred_at").value = localInputValue(occurred);
    }
    $("#f-category").value = b.category || "";
    const sev = $(`input[name="severity"][value="${b.severity}"]`);
    if (sev) sev.checked = true;
    $("#f-people_involved").value = b.people_involved != null ? b.people_involved : "";
    $("#f-title").value = b.title || "";
    $("#f-description").value = b.description || "";
    $("#f-address").value = b.address || "";
    for (const party of b.parties || []) addPartyRow(party);
    $$("#parties .party").forEach((row, i) => (row.dataset.index = String(i)));
    formPhotos = (item.photos || [])
      .filter((p) => p.blob && !p.sent)
      .map((p) => ({ key: p.key, blob: p.blob, name: p.name, type: p.type }));
    renderPreviews();
    updateGroupHint();
    updateCounter();
    switchTab("new");
    show($("#edit-banner"), true);
    showErrors(item.fields || {}, item.error);
  }

  // ---- daily check-in ------------------------------------------------------------------------

  async function onCheckin() {
    if (!auth) return signInAgain();
    const date = todayInChina();
    const item = {
      id: `checkin:${auth.user.username}:${date}`,
      kind: "checkin",
      owner: auth.user.username,
      body: { date, nothing_to_report: true, count: 0 },
      state: "waiting",
      attempts: 0,
      next_attempt_at: 0,
      created_at: Date.now(),
      error: null,
    };
    await outbox.put(item);
    await renderCheckin();
    renderQueue();
    sync({ force: true });
  }

  async function renderCheckin() {
    if (!auth) return;
    const node = $("#checkin-status");
    const date = todayInChina();
    const item = await outbox.get(`checkin:${auth.user.username}:${date}`);
    const sentDay = await kv.get(`checkin_sent:${auth.user.username}`);
    let text = "";
    let state = "";
    if (sentDay === date || (item && item.state === "sent")) {
      text = t("checkin_done");
      state = "sent";
    } else if (item && item.state === "attention") {
      text = item.error || t("state_attention");
      state = "attention";
    } else if (item) {
      text = t("checkin_waiting");
      state = "waiting";
    }
    node.textContent = text;
    node.dataset.state = state;
    show(node, !!text);
  }

  // ---- the sync loop -------------------------------------------------------------------------

  let syncing = null;
  let syncAgain = false;

  /** Send what is due. One round at a time; a forced request during a round runs another. */
  function sync(options) {
    const force = !!(options && options.force);
    if (syncing) {
      if (force) syncAgain = true;
      return syncing;
    }
    syncing = runSync(force)
      .catch((e) => console.warn("sync failed", e))
      .finally(() => {
        syncing = null;
        if (syncAgain) {
          syncAgain = false;
          sync({ force: true });
        }
      });
    return syncing;
  }

  async function runSync(force) {
    // navigator.onLine === false is certain (true is only a hope): no point trying.
    if (!auth || navigator.onLine === false) return;
    const items = (await outbox.all())
      .filter((i) => i.owner === auth.user.username && (i.state === "waiting" || i.state === "sending"))
      .sort((a, b) => a.created_at - b.created_at);
    let sentSomething = false;
    for (const item of items) {
      if (!force && item.next_attempt_at > Date.now()) continue;
      const outcome = await send(item);
      if (outcome === "sent") sentSomething = true;
      renderQueue();
      if (outcome === "stop") break;
    }
    await renderQueue();
    await renderCheckin();
    if (sentSomething && !$("#tab-list").hidden) loadServerList(1);
  }

  /** Send one item; "sent", "later" (try again after a backoff), "attention" or "stop" (no
   * network or no valid sign-in: the other items would fail the same way). */
  async function send(item) {
    await outbox.update(item.id, (i) => (i.state = "sending"));
    renderQueue();
    try {
      if (item.kind === "checkin") {
        await api("/checkins", { method: "POST", json: item.body });
        await kv.set(`checkin_sent:${item.owner}`, item.body.date);
        await markSent(item.id);
        return "sent";
      }
      if (!item.report_sent) {
        const { data } = await api("/reports", { method: "POST", json: item.body });
        await outbox.update(item.id, (i) => {
          i.report_sent = true;
          i.server = {
            status: data.status,
            cell: data.cell,
            outside_own_cells: data.outside_own_cells,
          };
        });
      }
      for (const photo of item.photos || []) {
        if (photo.sent || photo.failed) continue;
        const form = new FormData();
        form.append("photo", photo.blob, photo.name || "photo.jpg");
        try {
          await api(`/reports/${encodeURIComponent(item.id)}/photos`, {
            method: "POST",
            form,
            timeout: 180000,
          });
          await outbox.update(item.id, (i) => {
            const p = i.photos.find((x) => x.key === photo.key);
            if (p) p.sent = true;
          });
        } catch (e) {
          // One refused photo (not an image, too large) must not hold back the others or
          // hide the report: keep its message and go on.
          if (!(e instanceof HttpError) || !isRefusal(e.status)) throw e;
          await outbox.update(item.id, (i) => {
            const p = i.photos.find((x) => x.key === photo.key);
            if (p) {
              p.failed = true;
              p.error = e.message;
            }
          });
        }
      }
      await markSent(item.id);
      return "sent";
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) {
        await outbox.update(item.id, (i) => (i.state = "waiting"));
        return "stop";
      }
      if (e instanceof HttpError && isRefusal(e.status)) {
        await outbox.update(item.id, (i) => {
          i.state = "attention";
          i.error = e.status === 409 ? t("conflict") : e.message;
          i.error_code = e.status === 409 ? "conflict" : e.code;
          i.fields = e.fields;
        });
        return "attention";
      }
      // No network, a timeout, 429 or a server error: wait longer each time.
      await outbox.update(item.id, (i) => {
        i.state = "waiting";
        i.attempts = (i.attempts || 0) + 1;
        const delay = Math.min(BACKOFF_BASE_MS * 2 ** (i.attempts - 1), BACKOFF_MAX_MS);
        i.next_attempt_at = Date.now() + delay * (0.75 + Math.random() * 0.5);
        i.error = e instanceof HttpError ? t("server_error", { status: e.status }) : t("network_error");
      });
      return e instanceof NetworkError ? "stop" : "later";
    }
  }

  function isRefusal(status) {
    return status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429;
  }

  async function markSent(id) {
    await outbox.update(id, (i) => {
      i.state = "sent";
      i.sent_at = Date.now();
      i.error = null;
      i.fields = null;
      // The server has the photos now; free the phone's storage.
      for (const p of i.photos || []) {
        if (p.sent) p.blob = null;
      }
    });
  }

  async function purgeOld() {
    const now = Date.now();
    for (const item of await outbox.all()) {
      if (item.state === "sent" && now - (item.sent_at || 0) > KEEP_SENT_MS) {
        await outbox.del(item.id);
      }
    }
  }

  // ---- the lists -----------------------------------------------------------------------------

  const STATE_LABELS = {
    waiting: "state_waiting",
    sending: "state_sending",
    sent: "state_sent",
    attention: "state_attention",
  };

  let rendering = Promise.resolve();

  function renderQueue() {
    // Serialise: overlapping renders would interleave their rows.
    rendering = rendering.then(drawQueue, drawQueue);
    return rendering;
  }

  async function drawQueue() {
    const items = (await outbox.all()).sort((a, b) => b.created_at - a.created_at);
    const list = $("#queue");
    const me = auth && auth.user.username;
    list.replaceChildren();
    let waiting = 0;
    for (const item of items) {
      if (item.state !== "sent") waiting += 1;
      list.append(queueRow(item, me));
    }
    if (!items.length) list.append(el("li", { class: "empty", text: t("nothing_queued") }));
    settleToast(items);
    const badge = $("#queue-badge");
    badge.textContent = String(waiting);
    show(badge, waiting > 0);
  }

  function queueRow(item, me) {
    const title =
      item.kind === "checkin" ? t("checkin_item", { date: item.body.date }) : item.body.title;
    const row = el("li", { class: "item", "data-id": item.id, "data-state": item.state },
      el("div", { class: "item-head" },
        el("span", { class: "item-title", text: title }),
        el("span", { class: `state state-${item.state}`, text: t(STATE_LABELS[item.state]) })),
      el("div", { class: "item-meta", text: formatDateTime(item.created_at) }));
    if (item.kind === "report") {
      row.prepend(el("span", { class: `dot sev-${item.body.severity}`, "aria-hidden": "true" }));
      const photos = item.photos || [];
      if (photos.length) {
        const done = photos.filter((p) => p.sent).length;
        row.append(el("div", { class: "item-meta",
          text: t("photos_pending", { done, total: photos.length }) }));
      }
      for (const p of photos.filter((x) => x.failed)) {
        row.append(el("div", { class: "item-error", text: `${p.name}: ${p.error}` }));
      }
      if (item.server && item.server.cell) {
        row.append(el("div", { class: "item-meta", text: `${t("cell")}${COLON}${item.server.cell.name}` }));
      }
    }
    if (item.owner !== me) {
      row.append(el("div", { class: "item-meta", text: t("queue_other_user", { user: item.owner }) }));
    }
    if (item.kind === "report" && item.state === "sent" && item.owner === me) openable(row, item.id);
    if (item.state === "waiting" && item.error) {
      const next = item.next_attempt_at > Date.now()
        ? ` (${t("next_try", { time: TIME.format(new Date(item.next_attempt_at)) })})` : "";
      row.append(el("div", { class: "item-meta", text: `${item.error}${next}` }));
    }
    if (item.state === "attention") {
      row.append(el("div", { class: "item-error", text: item.error || "" }));
      const actions = el("div", { class: "item-actions" });
      if (item.kind === "report" && item.owner === me) {
        actions.append(el("button", { type: "button", class: "secondary", text: t("edit"),
          onclick: () => correct(item) }));
      }
      actions.append(el("button", { type: "button", class: "link danger", text: t("delete"),
        onclick: async () => {
          if (!window.confirm(t("delete_confirm"))) return;
          await outbox.del(item.id);
          renderQueue();
          renderCheckin();
        } }));
      row.append(actions);
    } else if (item.state === "waiting" && item.owner === me) {
      row.append(el("div", { class: "item-actions" },
        el("button", { type: "button", class: "link", text: t("send_now"),
          onclick: () => sync({ force: true }) })));
    }
    return row;
  }

  const STATUS_KEYS = new Set(["reported", "accepted", "rejected", "merged",
    "assigned", "signed_for", "in_progress", "closing_requested", "closed"]);
  const PER_PAGE = 20;
  let serverPage = 1;

  async function loadServerList(page) {
    if (!auth) return;
    const list = $("#server-list");
    const note = $("#server-note");
    const key = `reports:${auth.user.username}`;
    let data = null;
    try {
      if (navigator.onLine === false) throw new NetworkError();
      data = (await api(`/reports?page=${page}&per_page=${PER_PAGE}`)).data;
      if (page === 1) await kv.set(key, data);
      show(note, false);
    } catch (e) {
      if (page === 1) data = await kv.get(key);
      note.textContent = e instanceof NetworkError ? t("server_list_offline") : e.message;
      show(note, true);
      if (!data) return;
    }
    serverPage = data.page || page;
    if (serverPage === 1) list.replaceChildren();
    for (const r of data.items || []) list.append(serverRow(r));
    if (!list.children.length) list.append(el("li", { class: "empty", text: t("no_reports") }));
    show($("#more"), serverPage * (data.per_page || PER_PAGE) < (data.total || 0));
  }

  function serverRow(r) {
    const status = STATUS_KEYS.has(r.status) ? t(`status_${r.status}`) : r.status;
    const where = [r.cell && r.cell.name, r.township && r.township.name].filter(Boolean);
    const row = el("li", { class: "item", "data-id": r.id, "data-status": r.status },
      el("span", { class: `dot sev-${r.severity}`, "aria-hidden": "true" }),
      el("div", { class: "item-head" },
        el("span", { class: "item-title", text: r.title }),
        el("span", { class: "state state-server", text: status })),
      el("div", { class: "item-meta",
        text: [r.category_name, formatDateTime(r.occurred_at)].filter(Boolean).join(" · ") }),
      where.length ? el("div", { class: "item-meta", text: where.join(" · ") }) : null);
    if (r.outside_own_cells) {
      row.append(el("div", { class: "item-meta warn", text: t("report_outside") }));
    }
    openable(row, r.id);
    return row;
  }

  // ---- the officer's own report page -------------------------------------------------------

  /** Make a row of a sent report open its page (a tap, or Enter for a keyboard). */
  function openable(row, id) {
    row.classList.add("openable");
    row.setAttribute("role", "button");
    row.tabIndex = 0;
    row.addEventListener("click", () => openReport(id));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") openReport(id); });
  }

  async function openReport(id) {
    show($("#tab-new"), false);
    show($("#tab-list"), false);
    const page = $("#report-page");
    const note = $("#report-note");
    const key = `progress:${id}`;
    show(page, true);
    page.dataset.id = id;
    window.scrollTo(0, 0);
    let data = null;
    try {
      if (navigator.onLine === false) throw new NetworkError();
      data = (await api(`/reports/${encodeURIComponent(id)}/progress`)).data;
      await kv.set(key, data);
      show(note, false);
    } catch (e) {
      data = await kv.get(key);
      note.textContent = e instanceof NetworkError ? t("server_list_offline") : e.message;
      show(note, true);
    }
    if (!data) {
      $("#report-title").textContent = "";
      $("#report-status").textContent = "";
      $("#report-handler").textContent = "";
      $("#report-timeline").replaceChildren();
      return;
    }
    $("#report-title").textContent = data.title;
    const status = $("#report-status");
    status.textContent = data.status_label;
    status.dataset.status = data.status;
    const h = data.handled_by || {};
    $("#report-handler").textContent =
      [h.department, h.area || h.township].filter(Boolean).join(" · ") || "—";
    const list = $("#report-timeline");
    list.replaceChildren();
    for (const step of data.timeline || []) {
      list.append(el("li", { class: `step step-${step.status}`, "data-status": step.status },
        el("span", { class: "when", text: formatDateTime(step.at) }),
        el("strong", { class: "what", text: step.label }),
        step.detail ? el("div", { class: "detail", text: step.detail }) : null));
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator) || !CFG.sw_url) return;
    const hadController = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.register(CFG.sw_url, { scope: "./" }).catch((e) => {
      console.warn("service worker not registered", e);
    });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (hadController) toast(t("update_ready"));
    });
  }

  function bind() {
    $("#signin-form").addEventListener("submit", onSignIn);
    $("#sign-out").addEventListener("click", onSignOut);
    for (const button of $$(".tabs [data-tab]")) {
      button.addEventListener("click", () => switchTab(button.dataset.tab));
    }
    $("#locate").addEventListener("click", () => {
      if (position) position.manual = false;
      startGeolocation();
    });
    $("#report-form").addEventListener("submit", onSubmit);
    $("#add-party").addEventListener("click", () => addPartyRow(null));
    $("#f-photos").addEventListener("change", onPhotosChosen);
    $("#f-people_involved").addEventListener("input", updateGroupHint);
    $("#f-occurred_at").addEventListener("focus", (e) => {
      e.target.max = localInputValue(new Date(Date.now() + 5 * 60 * 1000));
    });
    $("#f-description").addEventListener("input", updateCounter);
    $("#cancel-edit").addEventListener("click", resetForm);
    $("#checkin").addEventListener("click", onCheckin);
    $("#more").addEventListener("click", () => loadServerList(serverPage + 1));
    $("#report-back").addEventListener("click", () => switchTab("list"));
    for (const name of ["title", "description", "address", "category", "occurred_at",
      "people_involved"]) {
      $(`#f-${name}`).addEventListener("input", () => setFieldError(name, ""));
    }
    for (const radio of $$('input[name="severity"]')) {
      radio.addEventListener("change", () => setFieldError("severity", ""));
    }
    window.addEventListener("online", () => {
      setNetwork(true);
      sync({ force: true });
      if (position && !locatedCell) findCell();
    });
    window.addEventListener("offline", () => setNetwork(false));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") sync();
    });
    setInterval(async () => {
      if (!auth) return;
      const due = (await outbox.all()).some((i) => i.state === "waiting" || i.state === "sending");
      if (due) sync();
    }, SYNC_INTERVAL_MS);
  }

  async function start() {
    registerServiceWorker();
    bind();
    setNetwork(navigator.onLine);
    try {
      await openDb();
    } catch (e) {
      const box = $("#signin-error");
      box.textContent = t("save_failed", { error: (e && e.message) || String(e) });
      show(box, true);
      showScreen("signin");
      return;
    }
    auth = (await kv.get("auth")) || null;
    if (auth && auth.expires_at && Date.parse(auth.expires_at) <= Date.now()) {
      auth = null;
      await kv.del("auth");
      showSignIn(t("sign_in_again"));
    } else if (auth) {
      await showApp();
    } else {
      showSignIn();
    }
    await purgeOld();
    renderQueue();
    if (auth) sync({ force: true });
  }

  start();
})();
