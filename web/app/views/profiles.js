import { h } from "../dom.js";
import { chooseProfile, session } from "../main.js";

const COLOURS = ["#e50914", "#2f80ed", "#f2c94c", "#27ae60", "#9b51e0", "#eb5757", "#56ccf2"];

export function avatarColour(id) {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return COLOURS[hash % COLOURS.length];
}

export async function renderProfiles() {
  const items = session.profiles.map((profile) =>
    h("li", {},
      h("button.profile-choice", { type: "button", dataset: { profile: profile.id },
                                   onclick: () => chooseProfile(profile) },
        h("span.avatar", { style: { background: avatarColour(profile.id) }, "aria-hidden": "true" },
          profile.name.slice(0, 1).toUpperCase()),
        h("span", {}, profile.name),
        profile.maturity === "G" ? h("small", {}, "Kids · G only") : null)));
  const el = h("section.profiles-page", {},
    h("div", {},
      h("h1", { id: "profiles-heading" }, "Who's watching?"),
      h("ul.profile-list", { "aria-labelledby": "profiles-heading" }, items)));
  return { el, focus: el.querySelector("button") };
}
