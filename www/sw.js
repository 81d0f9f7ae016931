// Service worker: cache-first for the app shell and the wasm, so the page works offline after
// one visit. It is served from the site root (beside index.html) so its scope covers the page;
// `cargo xtask serve` maps /sw.js here and `cargo xtask dist` copies it there, replacing the
// build id so every new build installs a fresh cache. All URLs are relative to the scope, so the
// site works under any sub-path.
const CACHE = 'msf-planner-__BUILD_ID__';
const SHELL = [
  './',
  'index.html',
  'www/app.js',
  'www/worker.js',
  'www/embed.js',
  'www/style.css',
  'www/manifest.webmanifest',
  'www/icons/icon-192.png',
  'www/icons/icon-512.png',
  'www/pkg/msf_web.js',
  'www/pkg/msf_web_bg.wasm',
  'www/examples/mbv1_w025_96_int8.tflite',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL.map((u) => new Request(new URL(u, self.registration.scope), { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('msf-planner-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || !req.url.startsWith(self.registration.scope)) return;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      const res = await fetch(req);
      // Anything else under the scope (models the page fetched, embed assets) is kept too.
      if (res.ok && res.type === 'basic') cache.put(req, res.clone());
      return res;
    }),
  );
});
