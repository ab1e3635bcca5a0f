// Title tiles and rows, shared by home and search; which titles a profile may see.
import { h } from "../dom.js";
import { session } from "../main.js";

const MATURITY = ["G", "PG", "PG-13", "R"];

export function allowedFor(profile, title) {
  return MATURITY.indexOf(title.maturity) <= MATURITY.indexOf(profile.maturity);
}

export function availableHere(title) {
  return title.available_in.includes(session.member.country);
}

// Listed but not streamable yet: no OCA holds it (it is still being copied to them).
export function comingSoon(title) {
  return title.availability === "coming_soon";
}

export function tile(title, { progress } = {}) {
  const available = availableHere(title);
  const soon = available && comingSoon(title);
  const label = `${title.name}${available ? "" : " (not available in your country)"}`
    + (soon ? " (coming soon)" : "");
  return h("a.tile" + (available ? "" : ".unavailable") + (soon ? ".coming-soon" : ""),
    { href: `#/title/${encodeURIComponent(title.id)}`, "aria-label": label,
      dataset: { title: title.id, availability: title.availability } },
    title.artwork_url
      ? h("img", { src: title.artwork_url, alt: "", loading: "lazy", width: 480, height: 270 })
      : null,
    h("span.caption", { "aria-hidden": "true" }, title.name),
    available ? null : h("span.badge", { "aria-hidden": "true" }, "Not in your country"),
    soon ? h("span.badge.soon", { "aria-hidden": "true" }, "Coming soon") : null,
    progress !== undefined
      ? h("span.progress", { "aria-hidden": "true" },
          h("span", { style: { width: `${Math.round(progress * 100)}%` } }))
      : null);
}

export function row(heading, titles, options = {}) {
  const id = `row-${heading.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section.row", { "aria-labelledby": id },
    h("h2", { id }, heading),
    h("ul.row-track", {}, titles.map((t) => h("li", {}, tile(t, options.progress?.(t)
      !== undefined ? { progress: options.progress(t) } : {})))));
}
