/**
 * Consent and contact details of a dataset's customers, as destinations need them: whether a customer opted
 * out, and their email address and phone number. They are customer attributes, named by the dataset's
 * settings (`consent.optOutAttribute`, default "opt_out"; `contact.emailAttribute`, default "email";
 * `contact.phoneAttribute`, default "phone").
 *
 * A customer is opted out when the opt-out attribute's value, trimmed and in any letter case, is "true",
 * "yes", "1" or "all" ("ALL" being what Amazon Pinpoint's OptOut holds for an endpoint that receives
 * nothing); any other value, or none, is not an opt-out.
 *
 * Each run writes its version's contacts next to the aggregate state (`state/…/v<n>/contacts.ndjson.gz`, one
 * line `[customerId, email, phone, optedOut]` per customer who has any of them), so that a path without the
 * state in memory reads them without loading the state. Being a state file of its version, an erasure
 * replaces it with the new version's (which no longer holds the customer) and deletes the earlier ones.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { z } from "zod";
import { AggregateState, type AttributeColumn } from "../engine/state";
import type { DatasetSettings } from "../model";
import type { BlobStore } from "../pipeline/ports";
import { objectKeys } from "../store/keys";

export interface Contacts {
  optedOut(customerId: string): boolean;
  email(customerId: string): string | undefined;
  phone(customerId: string): string | undefined;
}

/** The attribute names a dataset's settings give, with their defaults. */
export interface ContactAttributes {
  optOut: string;
  email: string;
  phone: string;
}

export const DEFAULT_OPT_OUT_ATTRIBUTE = "opt_out";
export const DEFAULT_EMAIL_ATTRIBUTE = "email";
export const DEFAULT_PHONE_ATTRIBUTE = "phone";

export function contactAttributes(settings: DatasetSettings | undefined): ContactAttributes {
  return {
    optOut: settings?.consent?.optOutAttribute ?? DEFAULT_OPT_OUT_ATTRIBUTE,
    email: settings?.contact?.emailAttribute ?? DEFAULT_EMAIL_ATTRIBUTE,
    phone: settings?.contact?.phoneAttribute ?? DEFAULT_PHONE_ATTRIBUTE,
  };
}

const OPT_OUT_VALUES = new Set(["true", "yes", "1", "all"]);

/** Whether an opt-out attribute's value means the customer opted out (see the module header). */
export function isOptOut(value: string | undefined): boolean {
  return value !== undefined && OPT_OUT_VALUES.has(value.trim().toLowerCase());
}

/** Nobody opted out, nobody has an address. */
export const NO_CONTACTS: Contacts = {
  optedOut: () => false,
  email: () => undefined,
  phone: () => undefined,
};

interface Entry {
  email?: string;
  phone?: string;
  optedOut: boolean;
}

function contactsOfMap(entries: ReadonlyMap<string, Entry>): Contacts {
  return {
    optedOut: (id) => entries.get(id)?.optedOut ?? false,
    email: (id) => entries.get(id)?.email,
    phone: (id) => entries.get(id)?.phone,
  };
}

/** An attribute column by its exact name, else by its name in any letter case (as file headers are matched). */
function columnOf(state: AggregateState, name: string): AttributeColumn | undefined {
  const exact = state.attribute(name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  const match = state.attributeNames().find((n) => n.toLowerCase() === lower);
  return match === undefined ? undefined : state.attribute(match);
}

function entriesOf(state: AggregateState, settings: DatasetSettings | undefined): Map<string, Entry> {
  const names = contactAttributes(settings);
  const optOut = columnOf(state, names.optOut);
  const email = columnOf(state, names.email);
  const phone = columnOf(state, names.phone);
  const entries = new Map<string, Entry>();
  if (!optOut && !email && !phone) return entries;
  for (let i = 0; i < state.customerCount; i++) {
    const e = email?.value(i)?.trim() || undefined;
    const p = phone?.value(i)?.trim() || undefined;
    const o = isOptOut(optOut?.value(i));
    if (e === undefined && p === undefined && !o) continue;
    entries.set(state.customerId(i), {
      ...(e !== undefined ? { email: e } : {}),
      ...(p !== undefined ? { phone: p } : {}),
      optedOut: o,
    });
  }
  return entries;
}

/** The contacts of a run's state in memory, read through the dataset's settings. */
export function contactsOf(state: AggregateState, settings: DatasetSettings | undefined): Contacts {
  return contactsOfMap(entriesOf(state, settings));
}

const lineSchema = z.tuple([z.string(), z.string().nullable(), z.string().nullable(), z.boolean()]);

/** The per-version contacts object of a state (gzipped NDJSON, see the module header). */
export function encodeContacts(state: AggregateState, settings: DatasetSettings | undefined): Uint8Array {
  const lines: string[] = [];
  for (const [id, e] of entriesOf(state, settings)) {
    lines.push(JSON.stringify([id, e.email ?? null, e.phone ?? null, e.optedOut]));
  }
  return gzipSync(Buffer.from(lines.join("\n"), "utf8"));
}

export function decodeContacts(bytes: Uint8Array): Contacts {
  const entries = new Map<string, Entry>();
  for (const line of gunzipSync(bytes).toString("utf8").split("\n")) {
    if (line === "") continue;
    const [id, email, phone, optedOut] = lineSchema.parse(JSON.parse(line));
    entries.set(id, {
      ...(email !== null ? { email } : {}),
      ...(phone !== null ? { phone } : {}),
      optedOut,
    });
  }
  return contactsOfMap(entries);
}

/** Writes a version's contacts object; a state of undefined (a sharded version) has none. */
export async function writeContacts(
  blobs: BlobStore,
  tenantId: string,
  datasetId: string,
  version: number,
  state: AggregateState | undefined,
  settings: DatasetSettings | undefined,
): Promise<void> {
  const body = state ? encodeContacts(state, settings) : gzipSync(Buffer.alloc(0));
  await blobs.put(objectKeys.contacts(tenantId, datasetId, version), body, "application/gzip");
}

/**
 * A version's contacts, from the object its run wrote. A version written before runs wrote one is read
 * from its aggregate state instead; a version with neither (a sharded one, which holds no customer
 * attributes) has no contacts.
 */
export async function loadContacts(
  blobs: BlobStore,
  tenantId: string,
  datasetId: string,
  version: number,
  settings: DatasetSettings | undefined,
): Promise<Contacts> {
  const bytes = await blobs.get(objectKeys.contacts(tenantId, datasetId, version));
  if (bytes) return decodeContacts(bytes);
  const state = await blobs.get(objectKeys.aggregate(tenantId, datasetId, version));
  return state ? contactsOf(AggregateState.deserialize(state), settings) : NO_CONTACTS;
}
