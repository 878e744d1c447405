/**
 * Attribute type inference and parsing, and the day-number calendar the rules use for dates.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AttributeTypeInference,
  dayFromParts,
  inferAttributeType,
  inferAttributeTypes,
  isoFromDay,
  parseAttributeValue,
  parseIsoDateTimeDay,
  parseIsoDay,
} from "../../../shared/engine/rules";

describe("inferAttributeType", () => {
  it.each<[string, string[], string]>([
    ["integers and decimals", ["42", "-3.5", "1e6", "0", " 7 "], "number"],
    ["numbers with gaps", ["1", "", "  ", "2"], "number"],
    ["codes with leading zeros", ["02139", "10001"], "string"],
    ["thousands separators", ["1,000", "2"], "string"],
    ["an overflowing exponent", ["1e400"], "string"],
    ["a trailing dot", ["1."], "string"],
    ["true/false in any case", ["true", "FALSE", "True"], "boolean"],
    ["yes/no", ["yes", "No"], "boolean"],
    ["booleans with a number", ["true", "1"], "string"],
    ["0/1 flags (numbers unless declared)", ["0", "1", "1"], "number"],
    ["ISO dates", ["2024-01-31", "1999-12-31"], "date"],
    [
      "ISO date-times with and without zones",
      ["2024-01-31T10:00:00Z", "2024-02-01 08:30", "2024-02-01"],
      "date",
    ],
    ["an impossible date", ["2024-02-30"], "string"],
    ["dates in another format", ["31/01/2024"], "string"],
    ["dates with a number", ["2024-01-31", "20240131"], "string"],
    ["words", ["DE", "US"], "string"],
    ["nothing but empty values", ["", " "], "string"],
    ["no values at all", [], "string"],
  ])("%s -> %s", (_, values, expected) => {
    expect(inferAttributeType(values)).toBe(expected);
  });

  it("streams: the type narrows to string as soon as a value does not fit", () => {
    const inference = new AttributeTypeInference();
    inference.observe("12");
    expect(inference.type).toBe("number");
    inference.observe("12a");
    expect(inference.type).toBe("string");
    inference.observe("13");
    expect(inference.type).toBe("string");
  });

  it("keeps a column named __proto__ like any other", () => {
    const types = inferAttributeTypes(JSON.parse('{"__proto__": ["1", "2"], "b": ["x"]}'));
    expect(Object.entries(types)).toEqual([
      ["__proto__", "number"],
      ["b", "string"],
    ]);
  });

  it("lets declared types override inferred ones", () => {
    const columns = { consent: ["0", "1"], zip: ["10001", "94105"], country: ["DE"], tags: ["a;b", "c"] };
    expect(inferAttributeTypes(columns)).toEqual({
      consent: "number",
      zip: "number",
      country: "string",
      tags: "string",
    });
    expect(inferAttributeTypes(columns, { consent: "boolean", zip: "string", tags: "list" })).toEqual({
      consent: "boolean",
      zip: "string",
      country: "string",
      tags: "list",
    });
  });
});

describe("parseAttributeValue", () => {
  it.each<[string, Parameters<typeof parseAttributeValue>[1], unknown]>([
    [" DE ", "string", "DE"],
    ["", "number", null],
    ["  ", "date", null],
    ["-3.5", "number", -3.5],
    ["Yes", "boolean", true],
    ["0", "boolean", false],
    ["t", "boolean", true],
    ["2024-03-01", "date", parseIsoDay("2024-03-01")],
    ["a; b|c;;", "list", ["a", "b", "c"]],
  ])("%j as %s", (raw, type, value) => {
    expect(parseAttributeValue(raw, type)).toEqual({ ok: true, value });
  });

  it.each<[string, Parameters<typeof parseAttributeValue>[1], string]>([
    ["12a", "number", "invalid_number"],
    ["007", "number", "invalid_number"],
    ["maybe", "boolean", "invalid_boolean"],
    ["2024-13-01", "date", "invalid_date"],
    ["01/02/2024", "date", "invalid_date"],
  ])("refuses %j as %s with %s", (raw, type, code) => {
    expect(parseAttributeValue(raw, type)).toMatchObject({ ok: false, code });
  });

  it("agrees with inference: every value of an inferred column parses as the inferred type", () => {
    const cell = fc.oneof(
      fc.constantFrom(
        "",
        "true",
        "no",
        "0",
        "007",
        "1e3",
        "-2.5",
        "2024-02-29",
        "2023-02-29",
        "2024-01-01T23:59:59+01:00",
      ),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(cell, { maxLength: 8 }), (values) => {
        const type = inferAttributeType(values);
        for (const value of values) expect(parseAttributeValue(value, type).ok).toBe(true);
      }),
      { seed: 7, numRuns: 500 },
    );
  });
});

describe("day numbers", () => {
  it("count days from 1970-01-01 UTC, checked against Date.UTC", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (y, m, d) => {
          const reference = new Date(Date.UTC(y, m - 1, d));
          const exists = reference.getUTCMonth() === m - 1;
          expect(dayFromParts(y, m, d)).toBe(exists ? reference.getTime() / 86_400_000 : undefined);
        },
      ),
      { seed: 11, numRuns: 2000 },
    );
  });

  it("round-trip through ISO text", () => {
    fc.assert(
      fc.property(fc.integer({ min: -300_000, max: 2_900_000 }), (day) => {
        expect(parseIsoDay(isoFromDay(day))).toBe(day);
      }),
      { seed: 12, numRuns: 1000 },
    );
  });

  it.each([
    ["1970-01-01", 0],
    ["1969-12-31", -1],
    ["2000-02-29", 11_016],
    ["2024-07-01", 19_905],
  ])("%s is day %i", (iso, day) => {
    expect(parseIsoDay(iso)).toBe(day);
  });

  it.each([
    "2023-02-29",
    "1900-02-29",
    "2024-00-10",
    "2024-1-01",
    "0999-01-01",
    "2024-01-01T00:00:00Z",
    " 2024-01-01",
  ])("refuse %j as a plain date", (text) => {
    expect(parseIsoDay(text)).toBeUndefined();
  });

  it.each<[string, string | undefined]>([
    ["2024-01-01", "2024-01-01"],
    ["2024-01-01T23:30:00Z", "2024-01-01"],
    // 23:30 at UTC-02:00 is 01:30 the next day in UTC
    ["2024-01-01T23:30:00-02:00", "2024-01-02"],
    // 01:00 at UTC+02:00 is 23:00 the day before in UTC
    ["2024-01-01T01:00:00+02:00", "2023-12-31"],
    ["2024-01-01T01:00+0530", "2023-12-31"],
    // without a zone the written date stands
    ["2024-01-01 23:59:59.123", "2024-01-01"],
    ["2024-01-01T24:00:00Z", undefined],
    ["2024-01-01T10:61Z", undefined],
    ["2024-01-01T10", undefined],
  ])("date-time %s falls on %s (UTC)", (text, iso) => {
    const day = parseIsoDateTimeDay(text);
    expect(day === undefined ? undefined : isoFromDay(day)).toBe(iso);
  });
});
