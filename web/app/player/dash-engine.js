// DASH through dash.js (the `dashjs` package): the MPD's BaseURL per OCA (serviceLocation)
// and its ContentSteering element, which dash.js follows. Clear segments (no ClearKey here).
import { loadDash } from "./loader.js";
import { hostOf, mutedPlay } from "./hls-engine.js";

export async function startDash(video, play, { startAt, maxBufferS, qoe }) {
  const dashjs = await loadDash();
  if (!dashjs || !dashjs.supportsMediaSource()) {
    throw new Error("This browser cannot play DASH through Media Source Extensions.");
  }
  const player = dashjs.MediaPlayer().create();
  const events = dashjs.MediaPlayer.events;
  const state = { steering: null, steeringAt: 0, serviceLocation: "" };
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: {
      applyContentSteering: true,
      buffer: { bufferTimeAtTopQuality: maxBufferS, bufferTimeAtTopQualityLongForm: maxBufferS,
                stableBufferTime: maxBufferS },
    },
  });
  player.on(events.FRAGMENT_LOADING_COMPLETED, (e) => {
    const request = e.request || {};
    if (request.mediaType !== "video" || !request.url) return;
    state.serviceLocation = request.serviceLocation || state.serviceLocation;
    qoe.served(request.serviceLocation || hostOf(request.url), hostOf(request.url));
  });
  player.on(events.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType !== "video") return;
    const rep = e.newRepresentation;
    if (rep) qoe.bitrate(rep.bandwidth / 1000, rep.height);
  });
  if (events.CONTENT_STEERING_REQUEST_COMPLETED) {
    player.on(events.CONTENT_STEERING_REQUEST_COMPLETED, (e) => {
      state.steering = e.currentSteeringResponseData || null;
      state.steeringAt = Date.now();
    });
  }
  player.on(events.ERROR, (e) => qoe.error(`dash/${e.error?.code ?? ""} ${e.error?.message ?? ""}`, true));
  player.on(events.STREAM_INITIALIZED, () => { video.play().catch(() => mutedPlay(video)); });
  player.initialize(video, new URL(play.dash.url, location.href).href, true,
                    startAt > 0 ? startAt : NaN);

  return {
    name: "dash",
    stats() {
      let rep = null;
      try { rep = player.getCurrentRepresentationForType("video"); } catch { rep = null; }
      const steering = state.steering;
      return {
        pathway: state.serviceLocation || qoe.pathway,
        bitrateKbps: rep ? rep.bandwidth / 1000 : 0,
        resolution: rep ? `${rep.width}×${rep.height}` : "",
        estimateKbps: player.getAverageThroughput ? player.getAverageThroughput("video") : 0,
        rungs: "",
        priority: steering ? steering.serviceLocationPriority || [] : [],
        steering,
        steeringAgeS: state.steeringAt ? (Date.now() - state.steeringAt) / 1000 : null,
      };
    },
    destroy() {
      player.reset();
    },
  };
}
