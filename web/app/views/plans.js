// How plans, money and billing dates read on the sign-up and account pages.
import { h } from "../dom.js";

export function planName(name) {
  return name ? name.slice(0, 1).toUpperCase() + name.slice(1) : "";
}

const RESOLUTIONS = { 480: "SD 480p", 720: "HD 720p", 1080: "Full HD 1080p", 2160: "Ultra HD 4K" };

export function resolution(maxHeight) {
  return RESOLUTIONS[maxHeight] || `${maxHeight}p`;
}

export function screens(count) {
  return count === 1 ? "1 screen at a time" : `${count} screens at a time`;
}

// Plan facts as list items: screens, then the best resolution.
export function planFacts(plan) {
  return [h("li", {}, screens(plan.max_streams)), h("li", {}, resolution(plan.max_height))];
}

// Unix seconds (0: none) as a date people read, in this browser's time zone.
export function day(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleDateString("en-GB", {
    day: "numeric", month: "long", year: "numeric" });
}

export function money(value) {
  return value ? value.display : "—";
}
