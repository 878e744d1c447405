/**
 * Amazon Pinpoint endpoint exports as customers: hand-written endpoints (several per user, opted out on one
 * channel, inactive, without a user id, malformed) and the attributes and counts worked out by hand from the
 * mapping in shared/engine/pinpoint.ts; the same file gzipped reads the same.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FileError } from "../../../shared/engine/errors";
import { decimalSum, ingestPinpointEndpoints } from "../../../shared/engine/pinpoint";
import { AggregateState } from "../../../shared/engine/state";
import type { RowError } from "../../../shared/engine/types";
import { chunked, everyN } from "./byte-source";

/** The record shape of Pinpoint's export, as the AWS CLI documentation shows it. */
const DOCUMENTED = {
  Address: "+11234567890",
  ApplicationId: "611e3e3cdd47474c9c1399a505665b91",
  Attributes: {},
  ChannelType: "SMS",
  CohortId: "63",
  CreationDate: "2019-01-28T23:55:11.534Z",
  EffectiveDate: "2021-08-06T00:04:51.763Z",
  EndpointStatus: "ACTIVE",
  Id: "testendpoint",
  Location: { Country: "USA" },
  Metrics: { SmsDelivered: 1.0 },
  OptOut: "ALL",
  RequestId: "a204b1f2-7e26-48a7-9c80-b49a2143489d",
  User: { UserAttributes: { Age: ["24"] }, UserId: "testuser" },
};

function endpoint(fields: Record<string, unknown>): string {
  return JSON.stringify({ ...DOCUMENTED, Attributes: {}, Metrics: {}, OptOut: "NONE", ...fields });
}

const LINES = [
  // 1: the documented record itself: testuser, opted out of SMS.
  JSON.stringify(DOCUMENTED),
  // 2-4: u1, three endpoints.
  endpoint({
    Id: "u1-email",
    ChannelType: "EMAIL",
    Address: " ana@example.com ",
    CreationDate: "2024-01-05T10:00:00.000Z",
    EffectiveDate: "2026-11-01T08:00:00.000Z",
    Location: { Country: "USA", City: "Seattle", Region: "WA", PostalCode: "98101" },
    Demographic: { AppVersion: "2.1.0", Platform: "iOS", Locale: "en_US", Timezone: "America/Los_Angeles" },
    Attributes: { Interests: ["books", "music"] },
    Metrics: { EmailOpened: 0.1 },
    User: { UserId: "u1", UserAttributes: { Age: ["31"], Tags: ["a", "b"] } },
  }),
  endpoint({
    Id: "u1-sms",
    ChannelType: "SMS",
    Address: "+15550100",
    CreationDate: "2023-06-01T00:00:00.000Z",
    EffectiveDate: "2026-10-01T00:00:00.000Z",
    Location: { Country: "US", City: "Tacoma" },
    Attributes: { Interests: ["music", "travel"] },
    Metrics: { EmailOpened: 0.2, SmsDelivered: 3 },
    User: { UserId: "u1", UserAttributes: { Age: ["30"] } },
  }),
  endpoint({
    Id: "u1-apns",
    ChannelType: "APNS",
    Address: "device-token-1",
    EndpointStatus: "INACTIVE",
    OptOut: "ALL",
    CreationDate: "2025-02-02T00:00:00.000Z",
    EffectiveDate: "2026-12-01T00:00:00.000+01:00",
    Location: { Country: "CAN" },
    Attributes: { Interests: ["golf"] },
    Metrics: { SmsDelivered: 1 },
    User: { UserId: "u1" },
  }),
  // 5: a line without a user id.
  endpoint({ Id: "anon-1", User: {} }),
  // 6-7: u2, opted out on SMS but not on VOICE.
  endpoint({ Id: "u2-sms", Address: "+15550201", OptOut: "ALL", User: { UserId: "u2" } }),
  endpoint({ Id: "u2-voice", ChannelType: "VOICE", Address: "+15550202", User: { UserId: "u2" } }),
  "",
  // 9: malformed JSON.
  "{not json",
  // 10: a metric that is text.
  endpoint({ Id: "bad-metric", Metrics: { SmsDelivered: "1" }, User: { UserId: "u4" } }),
  // 11: an unknown channel type.
  endpoint({ Id: "bad-channel", ChannelType: "FAX", User: { UserId: "u4" } }),
  // 12: a date that is no ISO date-time.
  endpoint({ Id: "bad-date", CreationDate: "yesterday", User: { UserId: "u4" } }),
  // 13: a blank user id, which is none.
  endpoint({ Id: "anon-2", User: { UserId: "  " } }),
  // 14-15: u3: a VOICE endpoint, and an inactive EMAIL one whose address is not taken.
  endpoint({ Id: "u3-voice", ChannelType: "VOICE", Address: "+15550300", User: { UserId: "u3" } }),
  endpoint({
    Id: "u3-email",
    ChannelType: "EMAIL",
    Address: "gone@example.com",
    EndpointStatus: "INACTIVE",
    User: { UserId: "u3" },
  }),
  "",
].join("\n");

async function read(bytes: Uint8Array, cuts: number[] = []) {
  const errors: RowError[] = [];
  const state = new AggregateState();
  const report = await ingestPinpointEndpoints(
    chunked(bytes, cuts),
    { compression: "auto", onRowError: (e) => errors.push(e) },
    state,
  );
  const customers = Object.fromEntries(
    Array.from({ length: state.customerCount }, (_, i) => [state.customerId(i), state.attributesOf(i)]),
  );
  return { report, errors, customers };
}

describe("a Pinpoint endpoint export", () => {
  it("makes one customer per user with the documented attributes", async () => {
    const { customers } = await read(Buffer.from(LINES));
    expect(Object.keys(customers)).toEqual(["testuser", "u1", "u2", "u3"]);
    expect(customers.testuser).toEqual({
      phone: "+11234567890",
      opt_out: "true",
      channels: "SMS",
      endpoint_count: "1",
      first_seen: "2019-01-28T23:55:11.534Z",
      last_seen: "2021-08-06T00:04:51.763Z",
      country: "USA",
      "user.Age": "24",
      "metric.SmsDelivered": "1",
    });
    // Ranked: the inactive APNS first, then SMS (2026-10-01), then EMAIL (2026-11-01): the last wins.
    expect(customers.u1).toEqual({
      email: "ana@example.com",
      phone: "+15550100",
      // The inactive endpoint's OptOut ALL is not taken.
      opt_out: "false",
      channels: "EMAIL|SMS",
      endpoint_count: "3",
      first_seen: "2023-06-01T00:00:00.000Z",
      // 2026-12-01T00:00+01:00 is 2026-11-30T23:00Z.
      last_seen: "2026-11-30T23:00:00.000Z",
      country: "USA",
      region: "WA",
      city: "Seattle",
      postal_code: "98101",
      locale: "en_US",
      timezone: "America/Los_Angeles",
      platform: "iOS",
      app_version: "2.1.0",
      "user.Age": "31",
      "user.Tags": "a|b",
      "attr.Interests": "golf|music|travel|books",
      // 0.1 + 0.2 exactly; 3 + 1 over an inactive endpoint too.
      "metric.EmailOpened": "0.3",
      "metric.SmsDelivered": "4",
    });
    expect(customers.u2).toMatchObject({
      phone: "+15550201",
      opt_out: "true",
      channels: "SMS|VOICE",
      endpoint_count: "2",
    });
    expect(customers.u3).toMatchObject({ phone: "+15550300", opt_out: "false", channels: "VOICE" });
    expect(customers.u3).not.toHaveProperty("email");
  });

  it("counts endpoints without a user id and inactive ones, and reports each malformed line by number", async () => {
    const { report, errors } = await read(Buffer.from(LINES));
    expect(report).toMatchObject({
      rowsRead: 14,
      rowsAccepted: 8,
      rowsRejected: 4,
      pinpoint: { endpoints: 10, endpointsWithoutUserId: 2, endpointsInactive: 2, users: 4 },
    });
    expect(errors.map(({ row, column, code }) => ({ row, column, code }))).toEqual([
      { row: 9, column: undefined, code: "BAD_JSON" },
      { row: 10, column: "Metrics.SmsDelivered", code: "BAD_VALUE" },
      { row: 11, column: "ChannelType", code: "BAD_VALUE" },
      { row: 12, column: "CreationDate", code: "BAD_DATE" },
    ]);
    // Reasons name the field, never the value.
    for (const e of errors) expect(e.reason).not.toMatch(/FAX|yesterday/);
  });

  it("reads the same gzipped, in chunks cut anywhere", async () => {
    const plain = await read(Buffer.from(LINES));
    const zipped = gzipSync(Buffer.from(LINES));
    const gz = await read(zipped, everyN(zipped.length, 97));
    expect(gz.customers).toEqual(plain.customers);
    expect(gz.report).toEqual(plain.report);
  });

  it("reads the export's several files concatenated (gzip members one after another) as one", async () => {
    const plain = await read(Buffer.from(LINES));
    const lines = LINES.split("\n");
    const half = Math.floor(lines.length / 2);
    const parts = [lines.slice(0, half).join("\n"), lines.slice(half).join("\n")];
    const joined = Buffer.concat(parts.map((p, k) => gzipSync(Buffer.from(k === 0 ? `${p}\n` : p))));
    const cat = await read(joined);
    expect(cat.customers).toEqual(plain.customers);
    expect(cat.report).toEqual(plain.report);
  });

  it("clears, for a user imported again, an attribute the new export no longer gives them", async () => {
    const state = new AggregateState();
    const ingest = (text: string) =>
      ingestPinpointEndpoints(chunked(Buffer.from(text)), { compression: "none" }, state);
    await ingest(LINES);
    await ingest(endpoint({ Id: "u1-sms", Address: "+15550999", User: { UserId: "u1" } }));
    const u1 = state.attributesOf(state.findCustomer("u1"));
    expect(u1.phone).toBe("+15550999");
    expect(u1).not.toHaveProperty("email");
    expect(u1).not.toHaveProperty("city");
    expect(u1.endpoint_count).toBe("1");
    // Attributes the second file gives nobody stay as they were.
    expect(u1["attr.Interests"]).toBe("golf|music|travel|books");
    // Users absent from the second file keep everything.
    expect(state.attributesOf(state.findCustomer("u2")).phone).toBe("+15550201");
  });

  it("takes names of Object.prototype's properties as plain attribute names", async () => {
    const line =
      '{"Id":"p","ChannelType":"SMS","User":{"UserId":"u","UserAttributes":{"constructor":["c"]}},' +
      '"Attributes":{"__proto__":["x"],"toString":["y"]},"Metrics":{"hasOwnProperty":2}}';
    const { customers, errors } = await read(Buffer.from(`${line}\n`));
    expect(errors).toEqual([]);
    expect(customers.u).toMatchObject({
      "user.constructor": "c",
      "attr.__proto__": "x",
      "attr.toString": "y",
      "metric.hasOwnProperty": "2",
    });
  });

  it("refuses a file whose first line is no endpoint", async () => {
    const attempt = read(Buffer.from('{"customer_id":"c1","country":"US"}\n'));
    await expect(attempt).rejects.toBeInstanceOf(FileError);
    await expect(attempt).rejects.toMatchObject({ code: "NOT_PINPOINT_EXPORT" });
  });
});

describe("decimalSum", () => {
  it("adds exactly, whatever the scale", () => {
    expect(decimalSum([0.1, 0.2])).toBe("0.3");
    expect(decimalSum([1, 2.5, -0.5])).toBe("3");
    expect(decimalSum([1e21, 1])).toBe("1000000000000000000001");
    expect(decimalSum([1e-7, 0.0000002])).toBe("0.0000003");
    expect(decimalSum([-0.1, -0.2])).toBe("-0.3");
    expect(decimalSum([0.3, -0.3])).toBe("0");
  });
});
