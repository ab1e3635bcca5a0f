// The player libraries come from npm (web/node_modules, installed by `make up`), loaded only
// when a title is played so browsing stays light.
const loaded = new Map();

function script(src) {
  if (!loaded.has(src)) {
    loaded.set(src, new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = src;
      el.onload = resolve;
      el.onerror = () => {
        loaded.delete(src);
        reject(new Error(`The player library ${src} is missing: run \`make up\` (or ` +
                         "`npm ci` in web/) with Node.js installed."));
      };
      document.head.append(el);
    }));
  }
  return loaded.get(src);
}

export async function loadHls() {
  await script("/node_modules/hls.js/dist/hls.min.js");
  return window.Hls;
}

export async function loadDash() {
  await script("/node_modules/dashjs/dist/modern/umd/dash.all.min.js");
  return window.dashjs;
}
