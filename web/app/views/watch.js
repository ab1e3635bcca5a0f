// The player page: asks the Play API for a play (the simulated network rides along), plays it
// with hls.js (or dash.js), reports heartbeats with position and QoE every interval and at
// stop, keeps the bookmark, and shows a stats overlay (pathway/OCA, bitrate, buffer, frames).
import { api, ApiError } from "../api.js";
import { clock, countryName, h, icon } from "../dom.js";
import { bookmarks, NETWORKS, settings } from "../store.js";
import { navigate, session } from "../main.js";
import { QoeTracker } from "../player/qoe.js";
import { bufferedAhead, startHls } from "../player/hls-engine.js";
import { startDash } from "../player/dash-engine.js";

const DEFAULT_BUFFER_S = 30;
const SEEK_STEP_S = 10;
const IDLE_MS = 3000;
// Refusals the member settles on the account page (a payment, a rejoin): the message links there.
const ACCOUNT_REFUSALS = new Set(["plan_on_hold", "membership_incomplete", "membership_ended"]);

function denial(err, title) {
  const country = countryName(session.member.country);
  const name = title ? `“${title.name}”` : "This title";
  switch (err.code) {
    case "not_licensed":
      return ["Not available in your country",
              `${name} isn't licensed for streaming in ${country} right now.`];
    case "plan_on_hold":
      return ["Your membership is on hold",
              err.message || "Your membership is on hold: update your payment method."];
    case "membership_incomplete":
      return ["Finish signing up", err.message || "Your first payment is not made yet."];
    case "membership_ended":
      return ["Your membership has ended", err.message || "Rejoin to watch."];
    case "maturity":
      return ["Not available on this profile",
              `${name} is rated above what the ${session.profile.name} profile allows.`];
    case "not_yet_available":
      return ["Coming soon",
              `${name} isn't ready to stream yet: it is still being copied to the servers near you. ` +
              "Try again in a minute."];
    case "too_many_streams":
      return ["Too many people are watching",
              "Your plan's screens are all in use. Stop playing on another device and try again."];
    default:
      return ["We can't play this right now", err.message];
  }
}

export async function renderWatch({ id, query }) {
  const mode = query.get("mode") === "dash" ? "dash" : query.get("mode") === "hls" ? "hls"
    : settings.mode();
  const maxBufferS = Math.max(2, Number(query.get("buffer")) || DEFAULT_BUFFER_S);
  const profile = session.profile;
  const mark = bookmarks.get(profile.id, id);
  const startAt = query.has("from") ? Number(query.get("from")) || 0 : mark ? mark.position_s : 0;

  const video = h("video", { playsinline: true, "aria-label": "Video", tabindex: "-1" });
  const titleName = h("h1", {}, "");
  const back = h("button.icon-button", { type: "button", "aria-label": "Back to browsing",
                                         onclick: () => history.length > 1 ? history.back() : navigate("#/home") }, icon("back"));
  const spinner = h("div.spinner", { role: "status", "aria-label": "Loading" });
  const message = h("div.player-message", { hidden: true, role: "alert" });
  const statsList = h("dl", {});
  const statsPathways = h("div.pathways", {});
  const stats = h("section.stats", { hidden: !settings.stats(), "aria-label": "Playback statistics",
                                     "aria-live": "off" },
    h("h2", {}, "Stats for streaming engineers"), statsList, statsPathways);
  const playPause = h("button.icon-button", { type: "button", "aria-label": "Play" }, icon("play"));
  const rewind = h("button.icon-button", { type: "button", "aria-label": `Back ${SEEK_STEP_S} seconds` }, icon("rewind"));
  const forward = h("button.icon-button", { type: "button", "aria-label": `Forward ${SEEK_STEP_S} seconds` }, icon("forward"));
  const mute = h("button.icon-button", { type: "button", "aria-label": "Mute" }, icon("volume"));
  const time = h("span.time", { "aria-live": "off" }, "0:00 / 0:00");
  const statsButton = h("button.icon-button", { type: "button", "aria-pressed": String(settings.stats()),
                                                "aria-label": "Stats overlay (S)" }, icon("stats"));
  const full = h("button.icon-button", { type: "button", "aria-label": "Full screen (F)" }, icon("fullscreen"));
  const scrub = h("input.scrub", { type: "range", min: 0, max: 0, step: 1, value: 0,
                                   "aria-label": "Position" });
  const el = h("section.watch", { "aria-label": "Player", dataset: { state: "loading", mode } },
    video, spinner,
    h("div.chrome", {},
      h("div.watch-top", {}, back, titleName),
      h("div.controls", {}, scrub,
        h("div.controls-row", {}, playPause, rewind, forward, mute, time,
          h("span.spacer", {}), statsButton, full))),
    stats, message);

  let engine = null, qoe = null, play = null, title = null, beats = null, statsTimer = null;
  let stopped = false;

  const setState = (value) => { el.dataset.state = value; };
  const showMessage = (heading, text, code) => {
    spinner.hidden = true;
    const toAccount = ACCOUNT_REFUSALS.has(code);
    message.replaceChildren(h("div.box", {},
      h("h2", { id: "player-message-heading" }, heading), h("p", {}, text),
      h("div.actions", {},
        toAccount ? h("a.button.primary", { href: "#/account", id: "player-account-link" },
                      "Go to your account") : null,
        h(`button.button.${toAccount ? "secondary" : "primary"}`,
          { type: "button", onclick: () => navigate(`#/title/${encodeURIComponent(id)}`) },
          "Back to the title"))));
    message.dataset.code = code || "";
    message.hidden = false;
    message.querySelector("a, button").focus();
  };

  const position = () => Math.round(video.currentTime * 10) / 10;
  const beat = async () => {
    if (!play || stopped) return;
    bookmarks.set(profile.id, id, video.currentTime, video.duration);
    try {
      await api.heartbeat(play.heartbeat_url, { position_s: position(), qoe: qoe.report() });
    } catch (err) {
      qoe.error(`heartbeat ${err.code || err.message}`, false);
    }
  };
  const stop = () => {
    if (!play || stopped) return;
    stopped = true;
    bookmarks.set(profile.id, id, video.currentTime, video.duration);
    api.stop(play.stop_url, { position_s: position(), qoe: qoe.report() });
  };

  const togglePlay = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const seek = (delta) => {
    if (!Number.isFinite(video.duration)) return;
    video.currentTime = Math.min(Math.max(0, video.currentTime + delta), video.duration - 0.5);
  };
  const toggleStats = () => {
    stats.hidden = !stats.hidden;
    settings.setStats(!stats.hidden);
    statsButton.setAttribute("aria-pressed", String(!stats.hidden));
    renderStats();
  };
  const toggleFull = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else el.requestFullscreen?.().catch(() => {});
  };
  const toggleMute = () => { video.muted = !video.muted; };
  playPause.addEventListener("click", togglePlay);
  rewind.addEventListener("click", () => seek(-SEEK_STEP_S));
  forward.addEventListener("click", () => seek(SEEK_STEP_S));
  mute.addEventListener("click", toggleMute);
  statsButton.addEventListener("click", toggleStats);
  full.addEventListener("click", toggleFull);
  scrub.addEventListener("input", () => { video.currentTime = Number(scrub.value); });
  video.addEventListener("click", togglePlay);

  const syncControls = () => {
    const paused = video.paused;
    playPause.replaceChildren(icon(paused ? "play" : "pause"));
    playPause.setAttribute("aria-label", paused ? "Play (space)" : "Pause (space)");
    mute.replaceChildren(icon(video.muted ? "muted" : "volume"));
    mute.setAttribute("aria-label", video.muted ? "Unmute (M)" : "Mute (M)");
    const duration = Number.isFinite(video.duration) ? video.duration : 0;
    time.textContent = `${clock(video.currentTime)} / ${clock(duration)}`;
    scrub.max = String(Math.floor(duration));
    if (document.activeElement !== scrub) scrub.value = String(Math.floor(video.currentTime));
    scrub.setAttribute("aria-valuetext", `${clock(video.currentTime)} of ${clock(duration)}`);
  };
  for (const name of ["play", "pause", "timeupdate", "durationchange", "volumechange"]) {
    video.addEventListener(name, syncControls);
  }
  video.addEventListener("waiting", () => { spinner.hidden = false; });
  video.addEventListener("playing", () => {
    spinner.hidden = true;
    setState("playing");
    if (!beats) {
      setTimeout(beat, 0); // the first heartbeat says playback started (with start-up time)
      beats = setInterval(beat, (play.heartbeat_interval_s || 10) * 1000);
    }
  });
  video.addEventListener("ended", () => { setState("ended"); stop(); });

  function renderStats() {
    if (stats.hidden || !engine) return;
    const s = engine.stats();
    const quality = video.getVideoPlaybackQuality?.() || {};
    const network = NETWORKS.find((n) => n.id === settings.network());
    const q = qoe.report();
    const rows = [
      ["Player", `${engine.name === "hls" ? "hls.js" : "dash.js"} · ${mode.toUpperCase()}`],
      ["Network", network ? `${network.label} (${network.address})` : "this machine"],
      ["Pathway", s.pathway || "—"],
      ["OCA", qoe.host || "—"],
      ["Bitrate", s.bitrateKbps ? `${Math.round(s.bitrateKbps)} kbps · ${s.resolution}` : "—"],
      ["Estimate", s.estimateKbps ? `${Math.round(s.estimateKbps)} kbps` : "—"],
      ["Buffer", `${bufferedAhead(video).toFixed(1)} s (max ${maxBufferS} s)`],
      ["Frames", `${quality.droppedVideoFrames ?? 0} dropped / ${quality.totalVideoFrames ?? 0}`],
      ["Start-up", q.startup_ms !== null ? `${q.startup_ms} ms` : "—"],
      ["Rebuffers", `${q.rebuffers} (${(q.rebuffer_ms / 1000).toFixed(1)} s)`],
      ["Switches", `bitrate ${q.bitrate_switches} · pathway ${q.pathway_changes}`],
      ["Errors", q.errors ? `${q.errors} · ${q.last_error}` : "0"],
      ["Play", play ? play.play_id : "—"],
    ];
    statsList.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { stat: k.toLowerCase() } }, v)]));
    const priority = s.priority || [];
    statsPathways.replaceChildren("Steering: ",
      ...priority.flatMap((p, i) => [i ? " › " : "", p === s.pathway ? h("b", {}, p) : p]),
      s.steeringAgeS !== null ? ` (polled ${s.steeringAgeS.toFixed(0)} s ago)` : "");
  }

  // Keyboard: space/K play-pause, ←/→ seek, ↑/↓ volume, M mute, F full screen, S stats, Esc back.
  const onKey = (e) => {
    if (e.target.closest?.("input, select, textarea") && e.target !== scrub) return;
    const actions = {
      " ": togglePlay, k: togglePlay, ArrowLeft: () => seek(-SEEK_STEP_S),
      ArrowRight: () => seek(SEEK_STEP_S), ArrowUp: () => { video.volume = Math.min(1, video.volume + 0.1); },
      ArrowDown: () => { video.volume = Math.max(0, video.volume - 0.1); }, m: toggleMute, f: toggleFull,
      s: toggleStats, i: toggleStats,
      Escape: () => { if (!document.fullscreenElement) back.click(); },
    };
    const action = actions[e.key.length === 1 ? e.key.toLowerCase() : e.key];
    if (!action || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.tagName === "BUTTON" && (e.key === " " || e.key === "Enter")) return;
    if (e.target === scrub && (e.key === "ArrowLeft" || e.key === "ArrowRight")) return;
    e.preventDefault();
    action();
    wake();
  };
  let idleTimer = null;
  const wake = () => {
    el.classList.remove("idle");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { if (!video.paused && !el.contains(document.activeElement?.closest?.(".stats"))) el.classList.add("idle"); }, IDLE_MS);
  };
  el.addEventListener("mousemove", wake);
  el.addEventListener("focusin", wake);
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", stop);

  async function start() {
    try {
      title = await api.title(id);
      titleName.textContent = title.name;
      document.title = `${title.name} · reelcloud`;
      const device = session.device();
      play = await api.play({ title_id: id, profile_id: profile.id, device_id: device.id });
    } catch (err) {
      // Refusals the member can understand: 403 (licence, plan, profile, screens) and 409 (not
      // on any OCA yet); anything else is an error.
      const refused = err instanceof ApiError
        && (err.status === 403 || (err.status === 409 && err.code === "not_yet_available"));
      setState(refused ? (err.status === 409 ? "not-yet" : "denied") : "error");
      const [heading, text] = refused ? denial(err, title) : ["We can't play this right now", err.message];
      showMessage(heading, text, err.code);
      return;
    }
    qoe = new QoeTracker(video);
    const options = { startAt, maxBufferS, qoe };
    try {
      engine = mode === "dash" ? await startDash(video, play, options) : await startHls(video, play, options);
    } catch (err) {
      setState("error");
      showMessage("The player could not start", err.message, "player");
      stop();
      return;
    }
    window.reelcloudPlayer = {
      mode, play, maxBufferS,
      stats: () => ({ ...engine.stats(), host: qoe.host, buffer_s: bufferedAhead(video) }),
      qoe: () => qoe.report(),
    };
    statsTimer = setInterval(renderStats, 500);
    renderStats();
    wake();
  }

  return {
    el,
    focus: playPause,
    mounted: start,
    cleanup() {
      stop();
      clearInterval(beats);
      clearInterval(statsTimer);
      clearTimeout(idleTimer);
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("pagehide", stop);
      if (qoe) qoe.close();
      if (engine) engine.destroy();
      delete window.reelcloudPlayer;
      document.title = "reelcloud";
    },
  };
}
