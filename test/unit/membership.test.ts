/**
 * The membership object a run stores for overlap answers (shared/pipeline/membership.ts): each segment's
 * bitset holds exactly the customers whose view names it, positions follow the UTF-8 byte order of the ids
 * (DynamoDB's order of the members pages, compared here with Buffer.compare), a segment nobody is in has an
 * empty bitset, and bytes that are not such an object are refused with MembershipError.
 */
import { describe, expect, it } from "vitest";
import { positionsOf } from "../../shared/engine/overlap";
import { compareUtf8, encodeMembership, Membership, MembershipError } from "../../shared/pipeline/membership";
import type { Outputs } from "../../shared/pipeline/outputs";

const view = (segments: string[]) =>
  JSON.stringify({ firstPurchase: "2025-01-01", lastPurchase: "2025-02-01", frequency: 1, segments });

describe("membership objects", () => {
  const outputs: Outputs = new Map([
    ["c10", view(["rfm:champions", "lifecycle:active"])],
    ["C2", view(["lifecycle:active"])],
    ["ø-1", view(["rfm:champions"])],
    ["😀", view(["rule:vip", "rfm:champions"])],
    ["\uffee", view([])],
    ["c1", view(["lifecycle:active", "rule:vip"])],
  ]);
  // UTF-8 byte order: "C2" < "c1" < "c10" < "ø-1" (C3 B8) < "\uffee" (EF BF AE) < "😀" (F0 9F 98 80).
  const order = ["C2", "c1", "c10", "ø-1", "\uffee", "😀"];

  it("orders customers by the UTF-8 bytes of their ids", () => {
    const bytesOrder = [...outputs.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(bytesOrder).toEqual(order);
    expect([...outputs.keys()].sort(compareUtf8)).toEqual(order);
    // The plain sort puts the surrogate pair first among the two: the reason for compareUtf8.
    expect([...outputs.keys()].sort().slice(-2)).toEqual(["😀", "\uffee"]);
  });

  it("holds each segment's members at their positions, at any byte offset", () => {
    const bytes = encodeMembership(outputs, ["rfm:champions", "lifecycle:active", "rule:empty"]);
    for (const offset of [0, 1, 5]) {
      const shifted = new Uint8Array(bytes.length + offset).subarray(offset);
      shifted.set(bytes);
      const m = new Membership(shifted);
      expect(m.count).toBe(6);
      expect(m.segmentIds).toEqual(["rfm:champions", "lifecycle:active", "rule:empty", "rule:vip"]);
      expect(Array.from({ length: m.count }, (_, p) => m.id(p))).toEqual(order);
      const members = (id: string) => [...positionsOf(m.bits(id) as Uint32Array)].map((p) => m.id(p));
      expect(members("rfm:champions")).toEqual(["c10", "ø-1", "😀"]);
      expect(members("lifecycle:active")).toEqual(["C2", "c1", "c10"]);
      expect(members("rule:vip")).toEqual(["c1", "😀"]);
      expect(members("rule:empty")).toEqual([]);
      expect(m.bits("rule:unknown")).toBeUndefined();
      expect(m.has("rule:empty")).toBe(true);
    }
  });

  it("finds the position after an id, present or not", () => {
    const m = new Membership(encodeMembership(outputs, []));
    expect(m.positionAfter("")).toBe(0);
    expect(m.positionAfter("C2")).toBe(1);
    expect(m.positionAfter("c")).toBe(1);
    expect(m.positionAfter("c10")).toBe(3);
    expect(m.positionAfter("\uffee")).toBe(5);
    expect(m.positionAfter("😀")).toBe(6);
  });

  it("reads views whose segments are not the last key, and shares parses only between equal arrays", () => {
    const mixed: Outputs = new Map([
      ["a", JSON.stringify({ segments: ["rule:x"], frequency: 1 })],
      ["b", view(["rule:x", "rule:y"])],
      ["c", JSON.stringify({ note: '"segments":["rule:y"]}', segments: ["rule:z"] })],
      ["d", view(["rule:x", "rule:y"])],
    ]);
    const m = new Membership(encodeMembership(mixed, []));
    const members = (id: string) => [...positionsOf(m.bits(id) as Uint32Array)].map((p) => m.id(p));
    expect(members("rule:x")).toEqual(["a", "b", "d"]);
    expect(members("rule:y")).toEqual(["b", "d"]);
    expect(members("rule:z")).toEqual(["c"]);
  });

  it("encodes no customers", () => {
    const m = new Membership(encodeMembership(new Map(), ["rfm:champions"]));
    expect(m.count).toBe(0);
    expect(m.bits("rfm:champions")).toEqual(new Uint32Array(0));
  });

  it("refuses bytes that are not a membership object", () => {
    const good = encodeMembership(outputs, []);
    for (const bytes of [
      new Uint8Array(0),
      Buffer.from("TRS1\0\0\0\0"),
      Buffer.from("MBS1\xff\0\0\0", "latin1"),
      good.subarray(0, good.length - 8),
      Buffer.concat([Buffer.from("MBS1\x02\0\0\0", "latin1"), Buffer.from("{}")]),
    ]) {
      expect(() => new Membership(bytes)).toThrow(MembershipError);
    }
  });
});
