/**
 * Calendar days as plain integers: a day number counts days since 1970-01-01 in UTC, so date conditions compile
 * to integer comparisons and never touch Date objects or time zones inside an evaluation loop.
 */

const MS_PER_DAY = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// Date, then optional time (minutes at least) and optional UTC offset. A space is accepted in place of "T"
// because spreadsheets and databases export date-times that way.
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Earliest and latest years accepted, so that day numbers stay small and Date.UTC never maps 0..99 to 19xx. */
export const MIN_YEAR = 1000;
export const MAX_YEAR = 9999;

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Day number of a calendar date, or undefined when the date does not exist (2023-02-29, month 13). */
export function dayFromParts(year: number, month: number, day: number): number | undefined {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return undefined;
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12) return undefined;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  return Date.UTC(year, month - 1, day) / MS_PER_DAY;
}

/** Parses a strict ISO calendar date `yyyy-mm-dd`; anything else (including date-times) is undefined. */
export function parseIsoDay(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (!m) return undefined;
  return dayFromParts(Number(m[1]), Number(m[2]), Number(m[3]));
}

/**
 * Parses an ISO date or date-time to the day it falls on in UTC. With an offset (`Z`, `+02:00`), the instant is
 * moved to UTC first; without one, the written date is taken as is (a local timestamp has no better answer).
 */
export function parseIsoDateTimeDay(text: string): number | undefined {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return undefined;
  const day = dayFromParts(Number(m[1]), Number(m[2]), Number(m[3]));
  if (day === undefined) return undefined;
  if (m[4] === undefined) return day;
  const hours = Number(m[4]);
  const minutes = Number(m[5]);
  const seconds = m[6] === undefined ? 0 : Number(m[6]);
  if (hours > 23 || minutes > 59 || seconds > 59) return undefined;
  const zone = m[7];
  if (zone === undefined || zone === "Z") return day;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const offsetHours = Number(digits.slice(0, 2));
  const offsetMinutes = Number(digits.slice(2));
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const localMinutes = hours * 60 + minutes;
  const utcMinutes = localMinutes - sign * (offsetHours * 60 + offsetMinutes);
  return day + Math.floor(utcMinutes / 1440);
}

/** The ISO date `yyyy-mm-dd` of a day number. */
export function isoFromDay(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}
