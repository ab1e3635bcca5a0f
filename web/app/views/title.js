import { api } from "../api.js";
import { clock, countryName, h, icon, minutes } from "../dom.js";
import { bookmarks, settings } from "../store.js";
import { navigate, session } from "../main.js";
import { comingSoon } from "./tiles.js";

const RECHECK_MS = 3000;

export async function renderTitle({ id }) {
  const title = await api.title(id);
  const country = session.member.country;
  const available = title.available_in.includes(country);
  const mark = bookmarks.get(session.profile.id, title.id);
  const watch = (from) => {
    const params = new URLSearchParams({ mode: mode.value });
    if (from !== undefined) params.set("from", String(from));
    navigate(`#/watch/${encodeURIComponent(title.id)}?${params}`);
  };
  const mode = h("select", { id: "mode-select" },
    new Option("HLS (hls.js, AES-128)", "hls"), new Option("DASH (dash.js)", "dash"));
  mode.value = settings.mode();
  mode.addEventListener("change", () => settings.setMode(mode.value));
  const play = h("button.button.primary", { type: "button", id: "play-button",
                                            onclick: () => watch(mark ? mark.position_s : 0) },
    icon("play"), mark ? `Resume from ${clock(mark.position_s)}` : "Play");
  // Listed but no OCA holds it yet: say so instead of offering a Play that would be refused.
  const soon = comingSoon(title);
  const notice = soon && available
    ? h("p.coming-soon-notice", { id: "coming-soon", role: "status", tabindex: "-1" },
        h("strong", {}, "Coming soon. "),
        "This title is still being copied to the servers that stream it; "
        + "it can be played in a minute or so.")
    : null;
  const others = title.available_in.filter((c) => c !== country).map(countryName);
  const availability = available
    ? (soon ? null : h("p.availability.yes", {}, `Available in ${countryName(country)}`))
    : h("p.availability.no", {},
        `Not available in ${countryName(country)}`,
        others.length ? ` (licensed in ${others.join(", ")})` : "");
  const el = h("article.title-page", { "aria-labelledby": "title-name" },
    h("div.title-backdrop", { style: title.artwork_url
      ? { backgroundImage: `url("${title.artwork_url}")` } : {} }),
    h("div.title-body", {},
      h("h1", { id: "title-name" }, title.name),
      h("div.facts", {},
        title.year ? h("span", {}, String(title.year)) : null,
        h("span.maturity", { title: "Maturity rating" }, title.maturity),
        h("span", {}, minutes(title.duration_s)),
        h("span.genres", {}, title.genres.join(" · "))),
      h("p.synopsis", {}, title.description || "No synopsis yet."),
      availability,
      notice,
      h("div.title-actions", {},
        soon ? null : play,
        mark && !soon ? h("button.button.secondary", { type: "button", onclick: () => watch(0) },
                          icon("rewind"), "From the beginning") : null,
        h("div.field.inline", {}, h("label", { for: "mode-select" }, "Stream"), mode))));
  // Look again now and then; once it is playable, show the page with its Play button.
  const recheck = soon ? setInterval(async () => {
    try {
      if (!comingSoon(await api.title(id))) navigate(location.hash);
    } catch { /* keep waiting: the next look may work */ }
  }, RECHECK_MS) : null;
  return { el, focus: soon ? notice || mode : play, cleanup: () => clearInterval(recheck) };
}
