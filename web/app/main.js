// The reelcloud web client: a hash router over a few views, the signed-in member and the
// chosen profile, and the top bar (search, simulated network, profile menu).
import { api, ApiError } from "./api.js";
import { NETWORKS, settings } from "./store.js";
import { renderSignIn } from "./views/signin.js";
import { renderSignUp } from "./views/signup.js";
import { renderAccount } from "./views/account.js";
import { renderProfiles, avatarColour } from "./views/profiles.js";
import { renderHome } from "./views/home.js";
import { renderTitle } from "./views/title.js";
import { renderSearch } from "./views/search.js";
import { renderWatch } from "./views/watch.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");

// What the app knows of the signed-in member; `titles` is the catalog, fetched once per load.
export const session = {
  member: null,
  profiles: [],
  devices: [],
  profile: null,
  titles: null,
  device() {
    return this.devices.find((d) => d.type === "browser") || this.devices[0];
  },
  async catalog(force = false) {
    if (!this.titles || force) this.titles = (await api.titles()).titles;
    return this.titles;
  },
  clear() {
    Object.assign(this, { member: null, profiles: [], devices: [], profile: null, titles: null });
  },
};

function adopt(me) {
  session.member = me.member;
  session.profiles = me.profiles;
  session.devices = me.devices;
  const remembered = settings.profile(me.member.id);
  session.profile = me.profiles.find((p) => p.id === remembered) || null;
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export async function signedIn(me) {
  adopt(me);
  navigate(session.profile ? "#/home" : "#/profiles");
}

export function chooseProfile(profile) {
  session.profile = profile;
  settings.setProfile(session.member.id, profile.id);
  navigate("#/home");
}

async function signOut() {
  try { await api.signOut(); } catch { /* the cookie is cleared either way on expiry */ }
  session.clear();
  navigate("#/signin");
}

function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { name: parts[0] || "home", id: parts[1] ? decodeURIComponent(parts[1]) : null,
           query: new URLSearchParams(query) };
}

let current = null; // the view on screen: {cleanup}
const PUBLIC = ["signin", "signup"]; // pages for visitors: no member needed

async function route() {
  const target = parse(location.hash);
  if (current && current.cleanup) current.cleanup();
  current = null;
  if (!session.member && !PUBLIC.includes(target.name)) {
    try {
      adopt(await api.me());
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) console.warn(err);
      return navigate("#/signin");
    }
  }
  // The account page needs no profile: a member may settle a bill before choosing one.
  if (session.member && !session.profile
      && !["profiles", "account", ...PUBLIC].includes(target.name)) {
    return navigate("#/profiles");
  }
  const views = {
    signin: renderSignIn, profiles: renderProfiles, home: renderHome, title: renderTitle,
    search: renderSearch, watch: renderWatch, signup: renderSignUp, account: renderAccount,
  };
  const view = views[target.name] || renderHome;
  const chrome = !["profiles", "watch", ...PUBLIC].includes(target.name);
  topbar.hidden = !chrome;
  if (chrome) updateTopbar(target.name);
  main.replaceChildren(Object.assign(document.createElement("p"), {
    className: "loading", textContent: "Loading…" }));
  try {
    current = (await view({ id: target.id, query: target.query })) || {};
    main.replaceChildren(current.el);
    if (current.focus) current.focus.focus({ preventScroll: false });
    else main.focus({ preventScroll: true });
    if (current.mounted) current.mounted();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.clear();
      return navigate("#/signin");
    }
    console.error(err);
    main.replaceChildren(Object.assign(document.createElement("p"), {
      className: "notice", textContent: `Something went wrong: ${err.message}` }));
  }
}

function updateTopbar(name) {
  for (const link of topbar.querySelectorAll(".topnav a")) {
    const active = link.getAttribute("href") === `#/${name}`;
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const button = document.getElementById("profile-button");
  const profile = session.profile;
  if (profile) {
    button.textContent = profile.name.slice(0, 1).toUpperCase();
    button.style.background = avatarColour(profile.id);
    button.setAttribute("aria-label", `Profile: ${profile.name}. Open the account menu`);
    document.getElementById("profile-menu-who").textContent =
      `${profile.name} · ${session.member.email} · ${session.member.country}`;
  }
  const search = document.getElementById("search-box");
  if (name !== "search") search.value = "";
}

function setUpTopbar() {
  const select = document.getElementById("network-select");
  for (const network of NETWORKS) {
    select.append(new Option(`${network.label} (${network.address})`, network.id));
  }
  select.value = settings.network();
  select.title = "The simulated network this browser sits in: steering picks its OCAs";
  select.addEventListener("change", () => settings.setNetwork(select.value));

  const form = document.getElementById("search-form");
  const box = document.getElementById("search-box");
  let timer = null;
  const go = () => navigate(`#/search?q=${encodeURIComponent(box.value.trim())}`);
  form.addEventListener("submit", (e) => { e.preventDefault(); go(); });
  box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(go, 250); });

  const button = document.getElementById("profile-button");
  const menu = document.getElementById("profile-menu");
  const toggle = (open) => {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("a, button").focus();
  };
  button.addEventListener("click", () => toggle(menu.hidden));
  menu.addEventListener("keydown", (e) => { if (e.key === "Escape") { toggle(false); button.focus(); } });
  menu.addEventListener("click", (e) => { if (e.target.closest("a")) toggle(false); });
  document.addEventListener("click", (e) => {
    if (!menu.hidden && !menu.contains(e.target) && e.target !== button) toggle(false);
  });
  document.getElementById("sign-out").addEventListener("click", () => { toggle(false); signOut(); });
}

setUpTopbar();
window.addEventListener("hashchange", route);
route();
