/**
 * Calendar days as integers: a day number counts days since 1970-01-01 (UTC), so dates compare and subtract
 * as plain numbers and never go through Date objects or time zones on the hot path.
 *
 * Accepted text (ISO 8601, the subset data exports use): a date `yyyy-mm-dd`, or a date-time
 * `yyyy-mm-ddThh:mm[:ss[.fraction]][Z|±hh[:mm]]` (a space may stand for `T`). A date-time with `Z` or an
 * offset is moved to UTC and yields its UTC calendar day; one without an offset yields the date as written
 * (a local timestamp has no better answer). Years 1000–9999.
 */

export const MIN_YEAR = 1000;
export const MAX_YEAR = 9999;

// Civil-from-days and days-from-civil after Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms":
// exact integer arithmetic over the proleptic Gregorian calendar.
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(n: number): [year: number, month: number, day: number] {
  const z = n + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Sentinel returned by parseDayBytes for text that is not an accepted date or date-time. */
export const NO_DAY = -2147483648;

function digit(b: number): number {
  const d = b - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

function two(buf: Uint8Array, i: number): number {
  const a = digit(buf[i] as number);
  const b = digit(buf[i + 1] as number);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/** Parses bytes [start, end) as an ISO date or date-time (see the module header); NO_DAY when invalid. */
export function parseDayBytes(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len < 10 || buf[start + 4] !== 45 || buf[start + 7] !== 45) return NO_DAY;
  const y1 = two(buf, start);
  const y2 = two(buf, start + 2);
  const month = two(buf, start + 5);
  const day = two(buf, start + 8);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1) return NO_DAY;
  const year = y1 * 100 + y2;
  if (year < MIN_YEAR || day > daysInMonth(year, month)) return NO_DAY;
  const date = daysFromCivil(year, month, day);
  if (len === 10) return date;

  let i = start + 10;
  const sep = buf[i];
  if (sep !== 84 && sep !== 116 && sep !== 32) return NO_DAY; // T, t, space
  i++;
  if (end - i < 5 || buf[i + 2] !== 58) return NO_DAY;
  const hours = two(buf, i);
  const minutes = two(buf, i + 3);
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return NO_DAY;
  i += 5;
  if (i < end && buf[i] === 58) {
    const seconds = two(buf, i + 1);
    // 60 admits a leap second.
    if (i + 3 > end || seconds < 0 || seconds > 60) return NO_DAY;
    i += 3;
    if (i < end && (buf[i] === 46 || buf[i] === 44)) {
      i++;
      const from = i;
      while (i < end && digit(buf[i] as number) >= 0) i++;
      if (i === from || i - from > 9) return NO_DAY;
    }
  }
  if (i === end) return date;
  const zone = buf[i];
  if (zone === 90 || zone === 122) return i + 1 === end ? date : NO_DAY; // Z, z
  if (zone !== 43 && zone !== 45) return NO_DAY;
  i++;
  const offsetHours = i + 2 <= end ? two(buf, i) : -1;
  if (offsetHours < 0 || offsetHours > 23) return NO_DAY;
  i += 2;
  let offsetMinutes = 0;
  if (i < end) {
    if (buf[i] === 58) i++;
    offsetMinutes = i + 2 === end ? two(buf, i) : -1;
    if (offsetMinutes < 0 || offsetMinutes > 59) return NO_DAY;
  }
  const offset = (offsetHours * 60 + offsetMinutes) * (zone === 45 ? -1 : 1);
  // Local time minus the offset is UTC; the minute of the day may leave [0, 1440) by less than a day.
  const utcMinute = hours * 60 + minutes - offset;
  return date + Math.floor(utcMinute / 1440);
}

const encoder = new TextEncoder();

/** Day number of an ISO date or date-time string, or undefined when it is not one. */
export function parseDay(text: string): number | undefined {
  const bytes = encoder.encode(text);
  const n = parseDayBytes(bytes, 0, bytes.length);
  return n === NO_DAY ? undefined : n;
}

/** Day number (days since 1970-01-01 UTC) of an ISO date or date-time; throws RangeError when invalid. */
export function dayNumber(iso: string): number {
  const n = parseDay(iso);
  if (n === undefined) throw new RangeError(`Not an ISO 8601 date: ${JSON.stringify(iso.slice(0, 40))}`);
  return n;
}

/** The ISO date `yyyy-mm-dd` of a day number. */
export function isoDay(n: number): string {
  const [y, m, d] = civilFromDays(n);
  const yyyy =
    y < 0
      ? `-${String(-y).padStart(6, "0")}`
      : y > 9999
        ? `+${String(y).padStart(6, "0")}`
        : String(y).padStart(4, "0");
  return `${yyyy}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}
