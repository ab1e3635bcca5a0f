import { api } from "../api.js";
import { h } from "../dom.js";
import { navigate, session } from "../main.js";
import { allowedFor, tile } from "./tiles.js";

// A catalog filter (name contains, genre) until the Discovery API exists.
export async function renderSearch({ query }) {
  const q = query.get("q") || "";
  const genre = query.get("genre") || "";
  const everything = (await session.catalog()).filter((t) => allowedFor(session.profile, t));
  const found = (await api.titles({ q, genre })).titles
    .filter((t) => allowedFor(session.profile, t));
  const genres = [...new Set(everything.flatMap((t) => t.genres))].sort();
  const link = (g) => `#/search?${new URLSearchParams({ ...(q && { q }), ...(g && { genre: g }) })}`;
  const chips = h("div.chips", { role: "group", "aria-label": "Filter by genre" },
    [["", "All genres"], ...genres.map((g) => [g, g])].map(([value, label]) =>
      h("button.chip", { type: "button", "aria-pressed": String(value === genre),
                         onclick: () => navigate(link(value)) }, label)));
  const heading = q ? `Results for “${q}”` : genre ? `Genre: ${genre}` : "Browse everything";
  const el = h("section.search-page", { "aria-labelledby": "search-heading" },
    h("h1", { id: "search-heading" }, heading),
    chips,
    found.length
      ? h("ul.grid", {}, found.map((t) => h("li", {}, tile(t))))
      : h("p.empty", { role: "status" }, "No titles match. Try another name or genre."));
  const box = document.getElementById("search-box");
  if (document.activeElement !== box) box.value = q;
  return { el, focus: document.activeElement === box ? box : undefined };
}
