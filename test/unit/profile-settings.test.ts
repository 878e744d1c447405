/**
 * The dataset settings of segment profiles (`profiles: { k, top, attributes }`, shared/model.ts) and how a run
 * turns them into the engine's options (shared/pipeline/profiles.ts profileOptionsOf): bad values are refused
 * naming the field, unknown keys too; contact and consent attributes pass through for the default choice.
 */
import { describe, expect, it } from "vitest";
import { datasetSettingsSchema } from "../../shared/model";
import { profileOptionsOf } from "../../shared/pipeline/profiles";

const issuesOf = (settings: unknown) => {
  const parsed = datasetSettingsSchema.safeParse(settings);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join("."));
};

describe("profiles settings", () => {
  it("accepts k 2–1000, top 1–50 and up to 30 attribute names", () => {
    expect(issuesOf({ profiles: { k: 2, top: 1, attributes: [] } })).toEqual([]);
    expect(issuesOf({ profiles: { k: 1000, top: 50 } })).toEqual([]);
    expect(issuesOf({ profiles: { attributes: Array.from({ length: 30 }, (_, i) => `a${i}`) } })).toEqual([]);
    expect(issuesOf({ profiles: {} })).toEqual([]);
  });

  it("refuses what is out of range, naming the field", () => {
    expect(issuesOf({ profiles: { k: 1 } })).toEqual(["profiles.k"]);
    expect(issuesOf({ profiles: { k: 1001 } })).toEqual(["profiles.k"]);
    expect(issuesOf({ profiles: { k: 2.5 } })).toEqual(["profiles.k"]);
    expect(issuesOf({ profiles: { top: 0 } })).toEqual(["profiles.top"]);
    expect(issuesOf({ profiles: { top: 51 } })).toEqual(["profiles.top"]);
    expect(issuesOf({ profiles: { attributes: Array.from({ length: 31 }, (_, i) => `a${i}`) } })).toEqual([
      "profiles.attributes",
    ]);
    expect(issuesOf({ profiles: { attributes: [""] } })).toEqual(["profiles.attributes.0"]);
    expect(issuesOf({ profiles: { kk: 3 } })).toEqual(["profiles"]);
  });

  it("become the engine's options, with the contact and consent attributes", () => {
    expect(profileOptionsOf({})).toEqual({});
    expect(
      profileOptionsOf({
        profiles: { k: 5, top: 3, attributes: ["region"] },
        contact: { emailAttribute: "mail" },
        consent: { optOutAttribute: "no_mail" },
      }),
    ).toEqual({
      k: 5,
      top: 3,
      attributes: ["region"],
      contact: { emailAttribute: "mail" },
      consent: { optOutAttribute: "no_mail" },
    });
  });
});
