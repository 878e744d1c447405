/**
 * Consent and contacts: which attribute values are an opt-out, the attribute names the settings give
 * (defaults and overrides, letter case of headers), and the per-version object read back as written.
 */
import { describe, expect, it } from "vitest";
import {
  contactsOf,
  decodeContacts,
  encodeContacts,
  isOptOut,
  loadContacts,
} from "../../../shared/destinations/contacts";
import { ingestCustomers } from "../../../shared/engine/ingest";
import { AggregateState } from "../../../shared/engine/state";
import { datasetSettingsSchema } from "../../../shared/model";
import type { BlobStore } from "../../../shared/pipeline/ports";
import { objectKeys } from "../../../shared/store/keys";
import { textSource } from "../engine/byte-source";

async function stateOf(csv: string): Promise<AggregateState> {
  const state = new AggregateState();
  const report = await ingestCustomers(textSource(csv), { format: "csv" }, state);
  expect(report.rowsRejected).toBe(0);
  return state;
}

const CSV = [
  "customer_id,Email,phone,opt_out,marketing",
  "a,a@example.com,+15550001,false,no",
  "b,,+15550002,ALL,yes",
  "c, c@example.com ,,true,",
  "d,,,NONE,1",
  "e,,,, yes ",
  "f,,,1,",
  "g,,,0,",
  "",
].join("\n");

describe("opt-out values", () => {
  it("are true, yes, 1 and ALL in any letter case, trimmed; nothing else", () => {
    for (const v of ["true", "TRUE", "True", "yes", "YES", "1", "ALL", "all", " true "]) {
      expect(isOptOut(v), v).toBe(true);
    }
    for (const v of [undefined, "", "false", "no", "0", "NONE", "none", "2", "opted out", "y"]) {
      expect(isOptOut(v), String(v)).toBe(false);
    }
  });
});

describe("contactsOf", () => {
  it("reads the default attributes, matching a header in another letter case", async () => {
    const contacts = contactsOf(await stateOf(CSV), {});
    expect(["a", "b", "c", "d", "e", "f", "g", "zz"].map((id) => contacts.optedOut(id))).toEqual([
      false,
      true,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(contacts.email("a")).toBe("a@example.com");
    expect(contacts.email("c")).toBe("c@example.com");
    expect(contacts.email("b")).toBeUndefined();
    expect(contacts.phone("b")).toBe("+15550002");
    expect(contacts.phone("c")).toBeUndefined();
    expect(contacts.email("zz")).toBeUndefined();
  });

  it("follows the attribute names of the settings", async () => {
    const settings = datasetSettingsSchema.parse({
      consent: { optOutAttribute: "marketing" },
      contact: { emailAttribute: "phone", phoneAttribute: "missing" },
    });
    const contacts = contactsOf(await stateOf(CSV), settings);
    expect(["a", "b", "c", "d", "e", "f"].map((id) => contacts.optedOut(id))).toEqual([
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
    expect(contacts.email("a")).toBe("+15550001");
    expect(contacts.phone("a")).toBeUndefined();
  });

  it("has settings whose names must not be blank", () => {
    expect(datasetSettingsSchema.safeParse({ consent: { optOutAttribute: " " } }).success).toBe(false);
    expect(datasetSettingsSchema.safeParse({ contact: { email: "x" } }).success).toBe(false);
  });
});

describe("the per-version contacts object", () => {
  it("reads back what contactsOf answers, and holds only customers with a contact or an opt-out", async () => {
    const state = await stateOf(CSV);
    const bytes = encodeContacts(state, {});
    const read = decodeContacts(bytes);
    const direct = contactsOf(state, {});
    for (const id of ["a", "b", "c", "d", "e", "f", "g"]) {
      expect([read.optedOut(id), read.email(id), read.phone(id)]).toEqual([
        direct.optedOut(id),
        direct.email(id),
        direct.phone(id),
      ]);
    }
    const { gunzipSync } = await import("node:zlib");
    const ids = gunzipSync(bytes)
      .toString("utf8")
      .split("\n")
      .map((l) => (JSON.parse(l) as string[])[0]);
    expect(ids).toEqual(["a", "b", "c", "f"]);
  });

  it("is loaded from its key, else from the version's aggregate state, else empty", async () => {
    const state = await stateOf(CSV);
    const objects = new Map<string, Uint8Array>();
    const blobs = { get: async (key: string) => objects.get(key) } as unknown as BlobStore;
    expect((await loadContacts(blobs, "t", "d", 1, {})).optedOut("b")).toBe(false);
    objects.set(objectKeys.aggregate("t", "d", 1), state.serialize());
    expect((await loadContacts(blobs, "t", "d", 1, {})).optedOut("b")).toBe(true);
    objects.set(objectKeys.contacts("t", "d", 1), encodeContacts(await stateOf("customer_id,x\nb,1\n"), {}));
    expect((await loadContacts(blobs, "t", "d", 1, {})).optedOut("b")).toBe(false);
  });
});
