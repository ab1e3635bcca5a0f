// What this browser remembers: the chosen profile, the simulated network, the player mode,
// and bookmarks (position per profile and title) until a history service keeps them.
const KEY = "reelcloud.";

function read(name, fallback) {
  try {
    const value = localStorage.getItem(KEY + name);
    return value === null ? fallback : JSON.parse(value);
  } catch {
    return fallback;
  }
}

function write(name, value) {
  try { localStorage.setItem(KEY + name, JSON.stringify(value)); } catch { /* private mode */ }
}

// The simulated networks of Open Connect (docs/architecture.md): a home address inside each
// ISP's prefix, and one outside both (served by the IXP's storage OCA).
export const NETWORKS = [
  { id: "isp-a", label: "ISP A", address: "127.10.0.7" },
  { id: "isp-b", label: "ISP B", address: "127.20.0.7" },
  { id: "elsewhere", label: "Elsewhere", address: "127.99.0.7" },
];

export const settings = {
  network() { return read("network", "isp-a"); },
  setNetwork(id) { write("network", id); },
  networkAddress() {
    const chosen = NETWORKS.find((n) => n.id === settings.network());
    return chosen ? chosen.address : "";
  },
  mode() { return read("mode", "hls"); },
  setMode(mode) { write("mode", mode === "dash" ? "dash" : "hls"); },
  stats() { return read("stats", false); },
  setStats(on) { write("stats", !!on); },
  profile(memberId) { return read(`profile.${memberId}`, null); },
  setProfile(memberId, profile) { write(`profile.${memberId}`, profile); },
};

export const bookmarks = {
  all(profileId) { return read(`bookmarks.${profileId}`, {}); },
  get(profileId, titleId) { return bookmarks.all(profileId)[titleId] || null; },
  set(profileId, titleId, position_s, duration_s) {
    const all = bookmarks.all(profileId);
    if (duration_s && position_s > duration_s - 5) {
      delete all[titleId]; // finished: no longer "continue watching"
    } else if (position_s >= 1) {
      all[titleId] = { position_s, duration_s, at: Date.now() };
    }
    write(`bookmarks.${profileId}`, all);
  },
};
