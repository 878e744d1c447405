/**
 * Amazon Pinpoint endpoint exports read as customers. An export job writes JSON lines (gzip or not), one
 * endpoint per line; a customer (Pinpoint's user, `User.UserId`) has one endpoint per channel and device.
 * The endpoints of each user become one customer's attributes by the mapping below (README, "Moving from
 * Amazon Pinpoint"):
 *
 * - Per field, the value of the user's latest endpoint that has one: endpoints are ranked inactive before
 *   active, then by `EffectiveDate` (none first), then by their place in the file; the last wins.
 *   `Location` Country, Region, City, PostalCode → `country`, `region`, `city`, `postal_code`;
 *   `Demographic` Locale, Timezone, Platform, PlatformVersion, Make, Model, ModelVersion, AppVersion →
 *   `locale`, `timezone`, `platform`, `platform_version`, `make`, `model`, `model_version`, `app_version`;
 *   `User.UserAttributes.<Name>` → `user.<Name>` (its list of values joined with "|").
 * - `Attributes.<Name>` → `attr.<Name>`: the distinct values of all the user's endpoints, joined with "|".
 * - `Metrics.<Name>` → `metric.<Name>`: the sum over all the user's endpoints, in exact decimal arithmetic.
 * - `email`: the Address of the latest active EMAIL endpoint; `phone`: of the latest active SMS endpoint, or
 *   failing that VOICE.
 * - `opt_out`: "true" when any active endpoint of the user has OptOut "ALL", else "false". Pinpoint records
 *   opt-outs per endpoint, while destinations act on the customer as a whole (a webhook names them, an
 *   audience file holds all their addresses), so one opted-out channel opts the customer out.
 * - `channels`: the channel types of the user's active endpoints, distinct, sorted, joined with "|".
 * - `endpoint_count`: the user's endpoints in the file, inactive ones included.
 * - `first_seen` / `last_seen`: the earliest CreationDate and the latest EffectiveDate (UTC date-times).
 *
 * An endpoint without a user id (absent or blank) belongs to no customer: it is skipped and counted. An
 * INACTIVE endpoint (Pinpoint's status for an address that no longer receives messages) still counts for
 * its user (endpoint_count, fields, attributes, metrics) but gives no address, no channel and no opt-out.
 * A line that is not an endpoint (bad JSON, a field of the wrong type, an unknown ChannelType,
 * EndpointStatus or OptOut, a date that is no ISO date-time) is rejected with its line number and the field.
 *
 * Every attribute the file gives anyone is set for each of the file's users (cleared where the user has
 * none), the way a customers file's column is; attributes of other names, and customers absent from the
 * file, keep what they had.
 */
import { FileError } from "./errors";
import type { IngestOptions } from "./ingest";
import { readNdjson } from "./reader";
import { parseIsoDateTimeDay } from "./rules/dates";
import type { AggregateState } from "./state";
import type { IngestReport, RowError } from "./types";

/** Longest user id, in characters, as for every customer id. */
const MAX_ID_CHARS = 128;
/** Longest attribute value, in characters, as for customers files. */
const MAX_ATTRIBUTE_CHARS = 4096;

/** Pinpoint's channel types (the ChannelType enum of its API). */
export const PINPOINT_CHANNEL_TYPES = [
  "PUSH",
  "GCM",
  "APNS",
  "APNS_SANDBOX",
  "APNS_VOIP",
  "APNS_VOIP_SANDBOX",
  "ADM",
  "SMS",
  "VOICE",
  "EMAIL",
  "BAIDU",
  "CUSTOM",
  "IN_APP",
] as const;

const LOCATION_FIELDS = [
  ["Country", "country"],
  ["Region", "region"],
  ["City", "city"],
  ["PostalCode", "postal_code"],
] as const;

const DEMOGRAPHIC_FIELDS = [
  ["Locale", "locale"],
  ["Timezone", "timezone"],
  ["Platform", "platform"],
  ["PlatformVersion", "platform_version"],
  ["Make", "make"],
  ["Model", "model"],
  ["ModelVersion", "model_version"],
  ["AppVersion", "app_version"],
] as const;

/** Attributes every import sets for each of its users. */
export const PINPOINT_CORE_ATTRIBUTES = [
  "email",
  "phone",
  "opt_out",
  "channels",
  "endpoint_count",
  "first_seen",
  "last_seen",
  ...LOCATION_FIELDS.map(([, name]) => name),
  ...DEMOGRAPHIC_FIELDS.map(([, name]) => name),
];

/** What an import counted besides rows: the endpoints and the users they make. */
export interface PinpointCounts {
  /** Endpoint lines read without fault (those without a user id included). */
  endpoints: number;
  /** Endpoints skipped for having no user id. */
  endpointsWithoutUserId: number;
  /** Endpoints of users with EndpointStatus INACTIVE. */
  endpointsInactive: number;
  /** Distinct users, each one customer. */
  users: number;
}

export interface PinpointIngestReport extends IngestReport {
  pinpoint: PinpointCounts;
}

/** One endpoint, reduced to what the mapping reads. */
export interface PinpointEndpoint {
  /** Line number in the file. */
  row: number;
  userId: string | undefined;
  active: boolean;
  channel: string | undefined;
  address: string | undefined;
  optOutAll: boolean;
  /** Epoch milliseconds. */
  created: number | undefined;
  effective: number | undefined;
  /** Location, Demographic and user.* values, by attribute name. */
  fields: Map<string, string>;
  /** Attributes, by attribute name (attr.<Name>). */
  lists: Map<string, string[]>;
  /** Metrics, by attribute name (metric.<Name>). */
  metrics: Map<string, number>;
}

class Reject extends Error {
  constructor(
    readonly column: string,
    readonly code: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** A text field: absent and null are undefined; anything but a string is rejected. */
function text(object: Record<string, unknown>, key: string, path: string): string | undefined {
  const value = own(object, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new Reject(path, "BAD_VALUE", `${path} must be text`);
  if (value.length > MAX_ATTRIBUTE_CHARS && charLength(value) > MAX_ATTRIBUTE_CHARS) {
    throw new Reject(path, "TOO_LONG", `${path} is longer than ${MAX_ATTRIBUTE_CHARS} characters`);
  }
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function objectField(
  object: Record<string, unknown>,
  key: string,
  path: string,
): Record<string, unknown> | undefined {
  const value = own(object, key);
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new Reject(path, "BAD_VALUE", `${path} must be an object`);
  return value;
}

function oneOf<T extends string>(
  object: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
): T | undefined {
  const value = text(object, key, key);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Reject(key, "BAD_VALUE", `${key} must be one of ${allowed.join(", ")}`);
  }
  return value as T;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 date-time with its offset, as epoch milliseconds. */
function instant(object: Record<string, unknown>, key: string): number | undefined {
  const value = text(object, key, key);
  if (value === undefined) return undefined;
  const ms =
    ISO_INSTANT.test(value) && parseIsoDateTimeDay(value) !== undefined ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new Reject(key, "BAD_DATE", `${key} must be an ISO 8601 date-time with an offset`);
  }
  return ms;
}

/** A map of name → list of text (Attributes, UserAttributes). */
function listMap(object: Record<string, unknown>, key: string, path: string): [string, string[]][] {
  const map = objectField(object, key, path);
  if (!map) return [];
  const out: [string, string[]][] = [];
  for (const name of Object.keys(map)) {
    const value = map[name];
    if (value === null || value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === "string")) {
      throw new Reject(`${path}.${name}`, "BAD_VALUE", `${path}.${name} must be a list of text values`);
    }
    const kept = (values as string[]).map((v) => v.trim()).filter((v) => v !== "");
    out.push([name, kept]);
  }
  return out;
}

/** Reads one line's object as an endpoint; throws Reject for a line that is not one. */
export function parsePinpointEndpoint(object: Record<string, unknown>, row: number): PinpointEndpoint {
  const user = objectField(object, "User", "User");
  let userId: string | undefined;
  if (user) {
    const id = own(user, "UserId");
    if (id !== undefined && id !== null) {
      if (typeof id !== "string") throw new Reject("User.UserId", "BAD_VALUE", "User.UserId must be text");
      const trimmed = id.trim();
      if (trimmed.length > MAX_ID_CHARS && charLength(trimmed) > MAX_ID_CHARS) {
        throw new Reject("User.UserId", "TOO_LONG", `User.UserId is longer than ${MAX_ID_CHARS} characters`);
      }
      userId = trimmed === "" ? undefined : trimmed;
    }
  }
  const status = oneOf(object, "EndpointStatus", ["ACTIVE", "INACTIVE"] as const);
  const optOut = oneOf(object, "OptOut", ["ALL", "NONE"] as const);
  const channel = oneOf(object, "ChannelType", PINPOINT_CHANNEL_TYPES);
  const address = text(object, "Address", "Address");
  const created = instant(object, "CreationDate");
  const effective = instant(object, "EffectiveDate");

  const fields = new Map<string, string>();
  const location = objectField(object, "Location", "Location");
  if (location) {
    for (const [key, name] of LOCATION_FIELDS) {
      const value = text(location, key, `Location.${key}`);
      if (value !== undefined) fields.set(name, value);
    }
  }
  const demographic = objectField(object, "Demographic", "Demographic");
  if (demographic) {
    for (const [key, name] of DEMOGRAPHIC_FIELDS) {
      const value = text(demographic, key, `Demographic.${key}`);
      if (value !== undefined) fields.set(name, value);
    }
  }
  if (user) {
    for (const [name, values] of listMap(user, "UserAttributes", "User.UserAttributes")) {
      if (values.length > 0) fields.set(`user.${name}`, values.join("|"));
    }
  }
  const lists = new Map<string, string[]>();
  for (const [name, values] of listMap(object, "Attributes", "Attributes")) lists.set(`attr.${name}`, values);
  const metrics = new Map<string, number>();
  const metricMap = objectField(object, "Metrics", "Metrics");
  if (metricMap) {
    for (const name of Object.keys(metricMap)) {
      const value = metricMap[name];
      if (value === null || value === undefined) continue;
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new Reject(`Metrics.${name}`, "BAD_VALUE", `Metrics.${name} must be a number`);
      }
      metrics.set(`metric.${name}`, value);
    }
  }
  return {
    row,
    userId,
    active: status !== "INACTIVE",
    channel,
    address,
    optOutAll: optOut === "ALL",
    created,
    effective,
    fields,
    lists,
    metrics,
  };
}

// ---- exact decimal sums ----------------------------------------------------------------------------------

const NUMBER_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

/** A double as the decimal its shortest text denotes: digits × 10^-scale. */
function decimalOf(value: number): { digits: bigint; scale: number } {
  const m = NUMBER_TEXT.exec(String(value));
  if (!m) throw new Error("a finite number has a decimal text");
  const fraction = m[3] ?? "";
  let digits = BigInt(`${m[1]}${m[2]}${fraction}`);
  let scale = fraction.length - Number(m[4] ?? 0);
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { digits, scale };
}

/** The exact sum of numbers as decimal text: 0.1 + 0.2 is "0.3", not 0.30000000000000004. */
export function decimalSum(values: readonly number[]): string {
  const parts = values.map(decimalOf);
  const scale = Math.max(0, ...parts.map((p) => p.scale));
  let total = 0n;
  for (const p of parts) total += p.digits * 10n ** BigInt(scale - p.scale);
  const negative = total < 0n;
  let digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
  let fraction = scale > 0 ? digits.slice(digits.length - scale) : "";
  digits = scale > 0 ? digits.slice(0, digits.length - scale) : digits;
  fraction = fraction.replace(/0+$/, "");
  const out = fraction === "" ? digits : `${digits}.${fraction}`;
  return negative && out !== "0" ? `-${out}` : out;
}

// ---- one user's attributes -------------------------------------------------------------------------------

function rank(a: PinpointEndpoint, b: PinpointEndpoint): number {
  if (a.active !== b.active) return a.active ? 1 : -1;
  const ea = a.effective ?? Number.NEGATIVE_INFINITY;
  const eb = b.effective ?? Number.NEGATIVE_INFINITY;
  if (ea !== eb) return ea < eb ? -1 : 1;
  return a.row - b.row;
}

/** The customer attributes of one user's endpoints, by the mapping of the module header. */
export function pinpointAttributes(endpoints: readonly PinpointEndpoint[]): Map<string, string> {
  const ranked = [...endpoints].sort(rank);
  const out = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const metrics = new Map<string, number[]>();
  let email: string | undefined;
  let sms: string | undefined;
  let voice: string | undefined;
  let optOut = false;
  const channels = new Set<string>();
  let firstSeen: number | undefined;
  let lastSeen: number | undefined;
  for (const e of ranked) {
    for (const [name, value] of e.fields) out.set(name, value);
    for (const [name, values] of e.lists) {
      const list = lists.get(name) ?? [];
      for (const v of values) if (!list.includes(v)) list.push(v);
      lists.set(name, list);
    }
    for (const [name, value] of e.metrics) metrics.set(name, [...(metrics.get(name) ?? []), value]);
    if (e.created !== undefined && (firstSeen === undefined || e.created < firstSeen)) firstSeen = e.created;
    if (e.effective !== undefined && (lastSeen === undefined || e.effective > lastSeen))
      lastSeen = e.effective;
    if (!e.active) continue;
    if (e.optOutAll) optOut = true;
    if (e.channel !== undefined) channels.add(e.channel);
    if (e.address === undefined) continue;
    if (e.channel === "EMAIL") email = e.address;
    else if (e.channel === "SMS") sms = e.address;
    else if (e.channel === "VOICE") voice = e.address;
  }
  for (const [name, values] of lists) if (values.length > 0) out.set(name, values.join("|"));
  for (const [name, values] of metrics) out.set(name, decimalSum(values));
  const phone = sms ?? voice;
  if (email !== undefined) out.set("email", email);
  if (phone !== undefined) out.set("phone", phone);
  out.set("opt_out", optOut ? "true" : "false");
  if (channels.size > 0) out.set("channels", [...channels].sort().join("|"));
  out.set("endpoint_count", String(endpoints.length));
  if (firstSeen !== undefined) out.set("first_seen", new Date(firstSeen).toISOString());
  if (lastSeen !== undefined) out.set("last_seen", new Date(lastSeen).toISOString());
  return out;
}

// ---- the file --------------------------------------------------------------------------------------------

/** Keys of which a Pinpoint endpoint has at least one; a first line with none is not an endpoint export. */
const ENDPOINT_KEYS = ["Id", "ChannelType", "Address", "User", "EndpointStatus", "ApplicationId"];

/**
 * Reads a Pinpoint endpoint export into the state (see the module header). Throws FileError for a file that
 * cannot be read as a whole, or whose first line is no endpoint.
 */
export async function ingestPinpointEndpoints(
  source: AsyncIterable<Uint8Array>,
  options: Pick<IngestOptions, "compression" | "onRowError">,
  state: AggregateState,
): Promise<PinpointIngestReport> {
  const counts = { rowsRead: 0, rowsAccepted: 0, rowsRejected: 0 };
  const pinpoint: PinpointCounts = {
    endpoints: 0,
    endpointsWithoutUserId: 0,
    endpointsInactive: 0,
    users: 0,
  };
  const users = new Map<string, PinpointEndpoint[]>();
  const rowError = (error: RowError) => {
    counts.rowsRejected++;
    options.onRowError?.(error);
  };
  let first = true;
  await readNdjson(source, options.compression, {
    object: (value, row) => {
      if (first) {
        first = false;
        if (!ENDPOINT_KEYS.some((key) => Object.hasOwn(value, key))) {
          throw new FileError(
            "NOT_PINPOINT_EXPORT",
            `The first line is no Pinpoint endpoint (it has none of ${ENDPOINT_KEYS.join(", ")}): upload a customers file as kind customers`,
          );
        }
      }
      counts.rowsRead++;
      let endpoint: PinpointEndpoint;
      try {
        endpoint = parsePinpointEndpoint(value, row);
      } catch (error) {
        if (!(error instanceof Reject)) throw error;
        rowError({ row, column: error.column, code: error.code, reason: error.reason });
        return;
      }
      pinpoint.endpoints++;
      if (endpoint.userId === undefined) {
        pinpoint.endpointsWithoutUserId++;
        return;
      }
      counts.rowsAccepted++;
      if (!endpoint.active) pinpoint.endpointsInactive++;
      const list = users.get(endpoint.userId);
      if (list) list.push(endpoint);
      else users.set(endpoint.userId, [endpoint]);
    },
    rowError: (error) => {
      counts.rowsRead++;
      rowError(error);
    },
  });
  pinpoint.users = users.size;

  const attributes = new Map<string, Map<string, string>>();
  const names = new Set<string>(PINPOINT_CORE_ATTRIBUTES);
  for (const [id, endpoints] of users) {
    const values = pinpointAttributes(endpoints);
    for (const [name, value] of values) {
      if (value.length > MAX_ATTRIBUTE_CHARS && charLength(value) > MAX_ATTRIBUTE_CHARS) {
        // Joined from several endpoints, so no single line is at fault: reported on the user's first line,
        // the attribute left out, and no line counted as rejected.
        options.onRowError?.({
          row: endpoints[0]?.row ?? 0,
          column: name,
          code: "TOO_LONG",
          reason: `${name} of this line's user, joined from all their endpoints, is longer than ${MAX_ATTRIBUTE_CHARS} characters; it was left out`,
        });
        values.delete(name);
        continue;
      }
      names.add(name);
    }
    attributes.set(id, values);
  }
  const columns = [...names].map((name) => state.attributeColumn(name));
  for (const [id, values] of attributes) {
    const customer = state.customers.internString(id);
    for (const column of columns) {
      const value = values.get(column.name);
      column.setCode(customer, value === undefined ? 0 : column.values.internString(value) + 1);
    }
  }
  state.releaseTables();
  return { ...counts, ordersAdded: 0, ordersDuplicate: 0, orderLinesMerged: 0, pinpoint };
}
