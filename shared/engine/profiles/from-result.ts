/**
 * The inputs of segment profiles (profile.ts) from what a run holds in memory: its computed result, the
 * traits over it (which know the rule and list segments a run added), the ids of the segments to profile and
 * the names of the customer attributes to describe.
 *
 * Attributes take the type traits.ts gives them: strings and booleans are categorical ("true"/"false"),
 * numbers numeric, dates dated; list attributes are left out (a customer holds several values at once).
 */
import type { ComputedSegmentation, SpendByValue } from "../compute";
import { netSpendByValue, positionsOf } from "../orders";
import type { ResultTraits } from "../traits";
import type { ComputeIssue } from "../types";
import {
  DEFAULT_PROFILE_K,
  DEFAULT_PROFILE_TOP,
  type ProfileAttribute,
  type ProfileInput,
  type ProfileSegment,
  profileSegments,
  type SegmentLiftProfile,
  type SpendDimension,
} from "./profile";

/** A bitset over `count` positions from 0/1 flags. */
export function bitsetOfFlags(flags: ArrayLike<number>): Uint32Array {
  const words = new Uint32Array((flags.length + 31) >>> 5);
  for (let p = 0; p < flags.length; p++) {
    if (flags[p] !== 0) words[p >>> 5] = (words[p >>> 5] as number) | (1 << (p & 31));
  }
  return words;
}

/** Largest positions × values table the spend per value is summed in, in one pass over the orders in order. */
const DENSE_SPEND_ENTRIES = 8 * 1024 * 1024;

/**
 * Net spend per position and value of a dimension (code 0: orders without one), from the result's orders
 * (those on or before asOf): each position lists the codes it has orders in, once each. A dimension of few
 * values is summed in a positions × values table in one pass over the orders as stored (codes ascending per
 * position); a wider one customer by customer over the result's orders (codes in order of first order).
 */
export function spendByValueOf(
  result: ComputedSegmentation,
  dimension: "category" | "channel",
  denseEntries = DENSE_SPEND_ENTRIES,
): SpendByValue {
  const merged = result.source.spend;
  if (merged !== undefined) return dimension === "channel" ? merged.channel : merged.category;
  const state = result.state;
  if (state === undefined) throw new Error("A merged result needs its spend per value to be profiled");
  const width = (dimension === "channel" ? state.channels.size : state.categories.size) + 1;
  if (width * result.customerCount <= denseEntries) return denseSpendOf(result, state, dimension, width);
  const codeOf =
    dimension === "channel" ? (o: number) => state.orderChannel(o) : (o: number) => state.orderCategory(o);
  const { offsets, orders } = result.customerOrders();
  const n = result.customerCount;
  const net = new Float64Array(width);
  const seenBy = new Int32Array(width).fill(-1);
  const touched = new Uint32Array(width);
  const outOffsets = new Uint32Array(n + 1);
  const outCodes: number[] = [];
  const outNet: number[] = [];
  for (let p = 0; p < n; p++) {
    let count = 0;
    for (let k = offsets[p] as number; k < (offsets[p + 1] as number); k++) {
      const order = orders[k] as number;
      const code = codeOf(order);
      if (seenBy[code] !== p) {
        seenBy[code] = p;
        touched[count++] = code;
        net[code] = 0;
      }
      net[code] = (net[code] as number) + state.orderCents(order);
    }
    for (let t = 0; t < count; t++) {
      const code = touched[t] as number;
      outCodes.push(code);
      outNet.push(net[code] as number);
    }
    outOffsets[p + 1] = outCodes.length;
  }
  return { offsets: outOffsets, codes: Uint32Array.from(outCodes), net: Float64Array.from(outNet) };
}

function denseSpendOf(
  result: ComputedSegmentation,
  state: NonNullable<ComputedSegmentation["state"]>,
  dimension: "category" | "channel",
  width: number,
): SpendByValue {
  const n = result.customerCount;
  const positions = positionsOf(state.customerCount, result.columns.stateIndex);
  const seen = new Uint8Array(n * width);
  const net = netSpendByValue(state, result.asOfDay, positions, n, dimension, width, seen);
  const offsets = new Uint32Array(n + 1);
  let entries = 0;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < width; c++) entries += seen[p * width + c] as number;
    offsets[p + 1] = entries;
  }
  const outCodes = new Uint32Array(entries);
  const outNet = new Float64Array(entries);
  let e = 0;
  for (let at = 0; at < n * width; at++) {
    if (seen[at] === 0) continue;
    outCodes[e] = at % width;
    outNet[e++] = net[at] as number;
  }
  return { offsets, codes: outCodes, net: outNet };
}

/** Profile attributes from the traits of a result; unknown names and list attributes are left out. */
export function profileAttributesOf(traits: ResultTraits, names: readonly string[]): ProfileAttribute[] {
  const out: ProfileAttribute[] = [];
  const n = traits.size;
  for (const name of names) {
    const type = traits.attributeType(name);
    const read = traits.attributeReader(name);
    if (type === undefined || read === undefined || type === "list") continue;
    if (type === "number" || type === "date") {
      const values = new Float64Array(n);
      for (let p = 0; p < n; p++) {
        const v = read(p);
        values[p] = typeof v === "number" ? v : Number.NaN;
      }
      out.push(type === "number" ? { kind: "numeric", name, values } : { kind: "date", name, days: values });
      continue;
    }
    const dictionary = new Map<string, number>();
    const values: string[] = [];
    const codes = new Uint32Array(n);
    for (let p = 0; p < n; p++) {
      const v = read(p);
      if (v === null || v === undefined) continue;
      const text = String(v);
      let code = dictionary.get(text);
      if (code === undefined) {
        values.push(text);
        code = values.length;
        dictionary.set(text, code);
      }
      codes[p] = code;
    }
    out.push({ kind: "categorical", name, values, codes });
  }
  return out;
}

/**
 * Everything profileSegments needs for the given segments (ids traits.membership knows; others are left out)
 * and attributes, with the category and channel dimensions the data has.
 */
export function profileInputOf(
  result: ComputedSegmentation,
  traits: ResultTraits,
  segmentIds: readonly string[],
  attributeNames: readonly string[],
): ProfileInput {
  const segments: ProfileSegment[] = [];
  for (const id of segmentIds) {
    const flags = traits.membership(id);
    if (flags !== undefined) segments.push({ id, members: bitsetOfFlags(flags) });
  }
  const dimensions: SpendDimension[] = [];
  const names = { category: result.source.categories, channel: result.source.channels } as const;
  for (const dimension of ["category", "channel"] as const) {
    const set = names[dimension];
    if (set.size === 0) continue;
    const values: string[] = [];
    for (let c = 0; c < set.size; c++) values.push(set.get(c));
    dimensions.push({ dimension, values, spend: spendByValueOf(result, dimension) });
  }
  return {
    customerCount: result.customerCount,
    segments,
    dimensions,
    attributes: profileAttributesOf(traits, attributeNames),
  };
}

/** Attributes a run profiles at most. */
export const MAX_PROFILE_ATTRIBUTES = 30;
/** Distinct values beyond which a categorical attribute is profiled only when named. */
export const MAX_PROFILE_ATTRIBUTE_VALUES = 1000;

export interface ResultProfilesOptions {
  /** Cells on fewer customers than this are hidden (default 10). */
  readonly k?: number;
  /** Values listed by name per table (default 10). */
  readonly top?: number;
  /** The attributes to describe; by default every non-list attribute but the contact and consent ones. */
  readonly attributes?: readonly string[];
  /** The attributes holding contact details, left out by default ("email" and "phone" unless set). */
  readonly contact?: { readonly emailAttribute?: string; readonly phoneAttribute?: string };
  /** The attribute recording an opt-out, left out by default ("opt_out" unless set). */
  readonly consent?: { readonly optOutAttribute?: string };
}

export interface ResultProfiles {
  readonly k: number;
  readonly top: number;
  /** The attributes described, in the order of each profile's attribute tables. */
  readonly attributes: readonly string[];
  /** Every segment of the result, by id, in the result's order. */
  readonly profiles: Record<string, SegmentLiftProfile>;
}

/**
 * Profiles of every segment of a result (every family), against its traits (result.traits), with the
 * attributes of options.attributes when set (unknown and list attributes left out), otherwise every non-list
 * attribute the traits know except the contact and consent attributes, the first 30 by name (code-unit order);
 * a categorical attribute of more than 1,000 distinct values among the result's customers is left out of that
 * default choice with the issue PROFILE_ATTRIBUTE_TOO_MANY_VALUES (stage "profiles"). Issues are added to
 * result.issues and the time taken to result.timings.profiles.
 */
export function profilesOf(
  result: ComputedSegmentation,
  options: ResultProfilesOptions = {},
): ResultProfiles {
  const started = performance.now();
  const k = options.k ?? DEFAULT_PROFILE_K;
  const top = options.top ?? DEFAULT_PROFILE_TOP;
  const traits = result.traits;
  let attributes: ProfileAttribute[];
  if (options.attributes !== undefined) {
    attributes = profileAttributesOf(traits, options.attributes);
  } else {
    const left = new Set([
      options.contact?.emailAttribute ?? "email",
      options.contact?.phoneAttribute ?? "phone",
      options.consent?.optOutAttribute ?? "opt_out",
    ]);
    const names = traits
      .attributeNames()
      .filter((name) => !left.has(name) && traits.attributeType(name) !== "list")
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    attributes = [];
    for (const name of names) {
      if (attributes.length === MAX_PROFILE_ATTRIBUTES) break;
      const [attribute] = profileAttributesOf(traits, [name]);
      if (attribute === undefined) continue;
      if (attribute.kind === "categorical" && attribute.values.length > MAX_PROFILE_ATTRIBUTE_VALUES) {
        const issue: ComputeIssue = {
          code: "PROFILE_ATTRIBUTE_TOO_MANY_VALUES",
          stage: "profiles",
          message: `attribute ${name} has ${attribute.values.length} distinct values (more than ${MAX_PROFILE_ATTRIBUTE_VALUES}): left out of the profiles unless named in settings.profiles.attributes`,
        };
        result.issues.push(issue);
        continue;
      }
      attributes.push(attribute);
    }
  }
  const ids = result.segments.map((s) => s.id);
  const input = profileInputOf(result, traits, ids, []);
  const list = profileSegments({ ...input, attributes }, { k, top });
  const profiles: Record<string, SegmentLiftProfile> = {};
  for (const profile of list) profiles[profile.segmentId] = profile;
  result.timings.profiles = Math.round((performance.now() - started) * 10) / 10;
  return { k, top, attributes: attributes.map((a) => a.name), profiles };
}
