// Dates, numbers and money in the user's language, times in the hotel's time zone (Intl).
import { config } from "./config.js";

const locale = config.locale || "en-GB";
const timeZone = config.timezone || "UTC";
const cache = new Map();
const formatter = (key, make) => {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key);
};

const asDate = (value) => (value instanceof Date ? value : new Date(value));

export function dateTime(value) {
  if (value == null) return "—";
  return formatter("dt", () => new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone })).format(asDate(value));
}

export function time(value) {
  if (value == null) return "—";
  return formatter("t", () => new Intl.DateTimeFormat(locale, { timeStyle: "short", timeZone })).format(asDate(value));
}

/** A calendar date ("2026-12-07") as the locale writes it (no time zone shift). */
export function day(value) {
  if (value == null) return "—";
  const text = String(value).slice(0, 10);
  return formatter("d", () => new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" })).format(new Date(`${text}T00:00:00Z`));
}

/** Today's date in the hotel's time zone, as YYYY-MM-DD. */
export function hotelToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

export function number(value, digits = 0) {
  if (value == null) return "—";
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

export function percent(fraction) {
  if (fraction == null) return "—";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 }).format(fraction);
}

export function currency(amount, code = "VND") {
  if (amount == null) return "—";
  return new Intl.NumberFormat(locale, { style: "currency", currency: code }).format(amount);
}

/** "3 min ago" / "3 phút trước". */
export function ago(value) {
  if (value == null) return "—";
  const seconds = Math.round((asDate(value).getTime() - Date.now()) / 1000);
  const rtf = formatter("rel", () => new Intl.RelativeTimeFormat(locale, { numeric: "auto" }));
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}
