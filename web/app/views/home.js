import { h, icon } from "../dom.js";
import { bookmarks } from "../store.js";
import { session } from "../main.js";
import { allowedFor, availableHere, row } from "./tiles.js";

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

  const featured = popular[0] || titles[0];
  const hero = featured
    ? h("section.hero", { "aria-labelledby": "hero-title",
                          style: featured.artwork_url
                            ? { backgroundImage: `url("${featured.artwork_url}")` } : {} },
        h("div.hero-body", {},
          h("h1", { id: "hero-title" }, featured.name),
          h("p", {}, featured.description),
          h("div.actions", {},
            h("a.button.primary", { href: `#/watch/${encodeURIComponent(featured.id)}` },
              icon("play"), "Play"),
            h("a.button.secondary", { href: `#/title/${encodeURIComponent(featured.id)}` },
              icon("info"), "More info"))))
    : null;
  const el = h("div.home", {},
    hero,
    h("div.rows", {}, rows.length ? rows
      : h("p.empty", {}, "Nothing to watch yet: the catalog is still being encoded.")));
  return { el, focus: el.querySelector(".hero a, .tile") };
}
