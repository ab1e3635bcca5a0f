// HLS through hls.js: content steering (each pathway an OCA, the order from the steering
// service, re-polled every TTL), AES-128 keys from the licence URL in the media playlists,
// ABR by hls.js's bandwidth estimate. Never the browser's native HLS: Chromium claims it
// ("maybe") but native playback ignores content steering.
import { loadHls } from "./loader.js";

const WATCHDOG_MS = 3000;

export async function startHls(video, play, { startAt, maxBufferS, qoe }) {
  const Hls = await loadHls();
  if (!Hls || !Hls.isSupported()) {
    throw new Error("This browser cannot play HLS through Media Source Extensions.");
  }
  const hls = new Hls({
    startPosition: startAt > 0 ? startAt : -1,
    maxBufferLength: maxBufferS,
    maxMaxBufferLength: maxBufferS * 2,
    backBufferLength: 30,
    // Every pathway is another OCA: give up on a stuck one quickly and let hls.js move to
    // the next pathway, rather than wait 10 s for a first byte and retry it 4 times.
    fragLoadPolicy: {
      default: {
        maxTimeToFirstByteMs: 3000,
        maxLoadTimeMs: 20000,
        timeoutRetry: { maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: { maxNumRetry: 2, retryDelayMs: 250, maxRetryDelayMs: 1000 },
      },
    },
  });
  const state = { steering: null, steeringAt: 0, levels: [] };

  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => mutedPlay(video)); });
  hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
    if (data.frag.type !== "main") return;
    const level = hls.levels[data.frag.level];
    qoe.served(level?.pathwayId || "", hostOf(data.frag.url));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    if (level) qoe.bitrate(level.bitrate / 1000, level.height);
  });
  hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_, data) => {
    state.steering = data.steeringManifest;
    state.steeringAt = Date.now();
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    qoe.error(`${data.type}/${data.details}`, data.fatal);
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad(video.currentTime);
  });

  // hls.js 1.7's start-up race: a steering answer that switches pathway while the first
  // fragments are in flight can leave playback stuck at 0. The server names steering's first
  // choice as the initial pathway; this watchdog restarts loading if the clock still stops.
  let lastTime = -1, lastMove = performance.now(), lastKick = 0;
  const watchdog = setInterval(() => {
    const now = performance.now();
    if (video.currentTime !== lastTime || video.paused || video.ended || video.seeking) {
      lastTime = video.currentTime;
      lastMove = now;
      return;
    }
    if (now - lastMove > WATCHDOG_MS && now - lastKick > WATCHDOG_MS &&
        bufferedAhead(video) < 0.5) {
      lastKick = now;
      qoe.watchdogRestarts += 1;
      hls.stopLoad();
      hls.startLoad(video.currentTime);
    }
  }, 500);

  hls.loadSource(new URL(play.hls.url, location.href).href);
  hls.attachMedia(video);

  return {
    name: "hls",
    stats() {
      const level = hls.levels[hls.currentLevel];
      return {
        pathway: level?.pathwayId || qoe.pathway,
        bitrateKbps: level ? level.bitrate / 1000 : 0,
        resolution: level ? `${level.width}×${level.height}` : "",
        estimateKbps: hls.bandwidthEstimate / 1000,
        rungs: hls.levels.map((l) => `${l.height}p`).join(" "),
        priority: hls.pathwayPriority || [],
        steering: state.steering,
        steeringAgeS: state.steeringAt ? (Date.now() - state.steeringAt) / 1000 : null,
      };
    },
    destroy() {
      clearInterval(watchdog);
      hls.destroy();
    },
  };
}

export function hostOf(url) {
  try { return new URL(url).host; } catch { return ""; }
}

export function bufferedAhead(video) {
  const t = video.currentTime;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= t + 0.1 && t <= video.buffered.end(i)) {
      return video.buffered.end(i) - t;
    }
  }
  return 0;
}

export function mutedPlay(video) {
  // Autoplay with sound needs a gesture the browser counted; muted always may.
  video.muted = true;
  return video.play().catch(() => {});
}
