// Quality of experience as the viewer lived it, sent with every heartbeat and at stop: start-up
// time, rebuffers (count, total and longest), bitrate switches, pathway (OCA) changes, errors.
// Stalls are measured from the video clock itself (sampled every 100 ms), not from events: a
// player that never fires `waiting` still stalls when time stops moving.
const SAMPLE_MS = 100;
const STALL_AFTER_MS = 300; // shorter pauses in the clock are jitter, not a rebuffer

export class QoeTracker {
  constructor(video) {
    this.video = video;
    this.requestedAt = performance.now();
    this.startupMs = null;
    this.rebuffers = 0;
    this.rebufferMs = 0;
    this.longestStallMs = 0;
    this.stallStartedAt = null;
    this.bitrateSwitches = 0;
    this.bitrateKbps = 0;
    this.height = 0;
    this.pathwayChanges = 0;
    this.pathway = "";
    this.pathwaysSeen = [];
    this.host = "";
    this.errors = 0;
    this.fatalErrors = 0;
    this.lastError = "";
    this.watchdogRestarts = 0;
    this.lastTime = 0;
    this.lastProgressAt = performance.now();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.onPlaying = () => {
      if (this.startupMs === null) this.startupMs = Math.round(performance.now() - this.requestedAt);
    };
    video.addEventListener("playing", this.onPlaying);
  }

  sample() {
    const v = this.video;
    const now = performance.now();
    if (v.currentTime !== this.lastTime || v.paused || v.seeking || v.ended) {
      if (v.currentTime > this.lastTime && this.startupMs === null) {
        this.startupMs = Math.round(now - this.requestedAt);
      }
      if (this.stallStartedAt !== null) this.endStall(now);
      this.lastTime = v.currentTime;
      this.lastProgressAt = now;
      return;
    }
    if (this.startupMs !== null && this.stallStartedAt === null &&
        now - this.lastProgressAt > STALL_AFTER_MS) {
      this.stallStartedAt = this.lastProgressAt;
    }
  }

  endStall(now) {
    const ms = now - this.stallStartedAt;
    this.rebuffers += 1;
    this.rebufferMs += ms;
    this.longestStallMs = Math.max(this.longestStallMs, ms);
    this.stallStartedAt = null;
  }

  // Milliseconds the clock has stood still while it should run (0 when playing).
  stalledForMs() {
    return this.stallStartedAt === null ? 0 : performance.now() - this.stallStartedAt;
  }

  bitrate(kbps, height) {
    if (this.bitrateKbps && kbps !== this.bitrateKbps) this.bitrateSwitches += 1;
    this.bitrateKbps = kbps;
    this.height = height || this.height;
  }

  served(pathway, host) {
    if (pathway && pathway !== this.pathway) {
      if (this.pathway) this.pathwayChanges += 1;
      this.pathway = pathway;
      this.pathwaysSeen.push(pathway);
    }
    this.host = host || this.host;
  }

  error(detail, fatal) {
    this.errors += 1;
    if (fatal) this.fatalErrors += 1;
    this.lastError = String(detail).slice(0, 120);
  }

  // The heartbeat's qoe: flat numbers and strings, as the Play API accepts them.
  report() {
    const ongoing = this.stalledForMs();
    return {
      startup_ms: this.startupMs, // null until playback started
      rebuffers: this.rebuffers + (ongoing ? 1 : 0),
      rebuffer_ms: Math.round(this.rebufferMs + ongoing),
      longest_stall_ms: Math.round(Math.max(this.longestStallMs, ongoing)),
      bitrate_switches: this.bitrateSwitches,
      bitrate_kbps: Math.round(this.bitrateKbps),
      height: this.height,
      pathway: this.pathway,
      pathway_changes: this.pathwayChanges,
      pathways_seen: this.pathwaysSeen.join(">").slice(0, 200),
      errors: this.errors,
      fatal_errors: this.fatalErrors,
      last_error: this.lastError,
      watchdog_restarts: this.watchdogRestarts,
      dropped_frames: this.video.getVideoPlaybackQuality?.().droppedVideoFrames ?? 0,
    };
  }

  close() {
    clearInterval(this.timer);
    this.video.removeEventListener("playing", this.onPlaying);
  }
}
