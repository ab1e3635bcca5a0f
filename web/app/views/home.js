import { h, icon } from "../dom.js";
import { bookmarks } from "../store.js";
import { session } from "../main.js";
import { allowedFor, availableHere, comingSoon, row } from "./tiles.js";

const REFRESH_MS = 5000;

export async function renderHome() {
  const profile = session.profile;
  const titles = (await session.catalog(true)).filter((t) => allowedFor(profile, t));
  const playable = titles.filter(availableHere);
  const rows = [];

  // Continue watching: this profile's bookmarks, most recent first.
  const marks = bookmarks.all(profile.id);
  const started = titles
    .filter((t) => marks[t.id])
    .sort((a, b) => marks[b.id].at - marks[a.id].at);
  if (started.length) {
    rows.push(row(`Continue watching for ${profile.name}`, started, {
      progress: (t) => Math.min(1, marks[t.id].position_s / (t.duration_s || marks[t.id].duration_s || 1)),
    }));
  }
  const popular = [...playable].sort((a, b) => b.popularity - a.popularity);
  if (popular.length) rows.push(row(`Popular in ${session.member.country}`, popular));
  const genres = [...new Set(titles.flatMap((t) => t.genres))].sort();
  for (const genre of genres) {
    const inGenre = titles.filter((t) => t.genres.includes(genre));
    rows.push(row(genre.replace(/(^|-)\w/g, (m) => m.toUpperCase()), inGenre));
  }

  // Feature something that plays now; a title still coming soon gets no Play button.
  const featured = popular.find((t) => !comingSoon(t)) || popular[0] || titles[0];
  const playNow = featured && availableHere(featured) && !comingSoon(featured);
  const hero = featured
    ? h("section.hero", { "aria-labelledby": "hero-title",
                          style: featured.artwork_url
                            ? { backgroundImage: `url("${featured.artwork_url}")` } : {} },
        h("div.hero-body", {},
          h("h1", { id: "hero-title" }, featured.name),
          h("p", {}, featured.description),
          h("div.actions", {},
            playNow
              ? h("a.button.primary", { href: `#/watch/${encodeURIComponent(featured.id)}` },
                  icon("play"), "Play")
              : h("span.coming-soon-note", {},
                  comingSoon(featured) ? "Coming soon" : "Not in your country"),
            h("a.button.secondary", { href: `#/title/${encodeURIComponent(featured.id)}` },
              icon("info"), "More info"))))
    : null;
  const el = h("div.home", {},
    hero,
    h("div.rows", {}, rows.length ? rows
      : h("p.empty", {}, "Nothing to watch yet: the catalog is still being encoded.")));
  // While some tile says "Coming soon", re-read the listing now and then and turn the tiles
  // that became playable into plain ones (in place: focus and scroll stay where they are).
  const refresh = setInterval(async () => {
    if (!el.querySelector(".tile.coming-soon")) return;
    let fresh;
    try { fresh = await session.catalog(true); } catch { return; }
    for (const t of fresh.filter((t) => !comingSoon(t))) {
      for (const tileEl of el.querySelectorAll(`.tile.coming-soon[data-title="${CSS.escape(t.id)}"]`)) {
        markPlayable(tileEl);
      }
    }
  }, REFRESH_MS);
  return { el, focus: el.querySelector(".hero a, .tile"), cleanup: () => clearInterval(refresh) };
}

function markPlayable(tileEl) {
  tileEl.classList.remove("coming-soon");
  tileEl.dataset.availability = "available";
  tileEl.querySelector(".badge.soon")?.remove();
  tileEl.setAttribute("aria-label", tileEl.getAttribute("aria-label").replace(" (coming soon)", ""));
}
