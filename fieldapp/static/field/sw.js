/* Service worker of the grid officer's app, served as /field/sw.js (scope /field/).
 *
 * The blueprint fills in VERSION (a hash of the app's files) and PRECACHE (the app shell).
 * - install: precache the shell into a versioned cache; activate: drop older versions.
 * - the page (navigations under /field/): network first with a short timeout, else the
 *   cached shell, so the form opens with no network after one online visit;
 * - static files: cache first;
 * - API GETs that are safe to reuse (categories, me): network first, cache as a fallback;
 * - everything else, and every POST, goes to the network untouched (the page keeps its own
 *   queue in IndexedDB; nothing here retries or caches a write).
 */
"use strict";

const VERSION = "__VERSION__";
const PRECACHE = ["__PRECACHE__"];
const SHELL_CACHE = `field-shell-${VERSION}`;
const API_CACHE = "field-api";
const SHELL_URL = PRECACHE[0];
const NAVIGATION_TIMEOUT_MS = 4000;
const CACHEABLE_API = [/^\/api\/v1\/categories$/, /^\/api\/v1\/me$/];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // cache: "reload" skips the HTTP cache, so a new version never stores stale copies.
      await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("field-shell-") && name !== SHELL_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })()
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // never cache writes
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.mode === "navigate" && url.pathname.startsWith(new URL(SHELL_URL, url).pathname)) {
    event.respondWith(shell(request));
  } else if (url.pathname.startsWith("/api/")) {
    if (CACHEABLE_API.some((re) => re.test(url.pathname))) {
      event.respondWith(networkFirst(request));
    }
    // Other API GETs (locate, reports, photos): straight to the network.
  } else if (url.pathname.startsWith("/static/") || PRECACHE.includes(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      }
    );
  });
}

/** The app page: fresh when the network answers quickly (new version, chosen language),
 * otherwise the copy from the last online visit. */
async function shell(request) {
  const cache = await caches.open(SHELL_CACHE);
  const fromNetwork = fetch(request).then(async (response) => {
    if (response.ok && response.type === "basic") {
      await cache.put(SHELL_URL, response.clone());
    }
    return response;
  });
  fromNetwork.catch(() => {}); // a late failure after the timeout is expected offline
  try {
    const response = await withTimeout(fromNetwork, NAVIGATION_TIMEOUT_MS);
    if (response.ok) return response;
  } catch (e) {
    // offline or too slow: the cached shell below
  }
  const cached = await cache.match(SHELL_URL, { ignoreSearch: true });
  return cached || fromNetwork;
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreSearch: false });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    const cache = await caches.open(SHELL_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (e) {
    // The token is not part of the key: the page clears this cache when the officer signs out.
    const cached = await cache.match(request, { ignoreVary: true });
    if (!cached) throw e;
    const headers = new Headers(cached.headers);
    headers.set("X-Field-Cache", "hit");
    return new Response(await cached.blob(), {
      status: cached.status,
      statusText: cached.statusText,
      headers,
    });
  }
}
