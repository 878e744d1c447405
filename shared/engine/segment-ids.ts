/**
 * Segment ids: `<family>:<slug>` for the rfm, cluster, lifecycle, rule, list and lookalike families, and
 * `attr:<attribute-slug>:<value-slug>` for attribute families (attribute-families.ts). A slug is lower-case
 * letters, digits and '-', starting with a letter or digit, at most 64 characters. The family is the part
 * before the first ':'; file and object names replace every ':'.
 */

/** The families a segment id may name. */
export const SEGMENT_ID_FAMILIES = [
  "rfm",
  "cluster",
  "lifecycle",
  "rule",
  "list",
  "attr",
  "lookalike",
] as const;

const SLUG = "[a-z0-9][a-z0-9-]{0,63}";

/** Every segment id the service serves. */
export const SEGMENT_ID_PATTERN = new RegExp(
  `^(?:(?:rfm|cluster|lifecycle|rule|list|lookalike):${SLUG}|attr:${SLUG}:${SLUG})$`,
);

/** The family of a segment id: the text before its first ':' ("attr" for "attr:country:no"). */
export function familyOfId(segmentId: string): string {
  const colon = segmentId.indexOf(":");
  return colon < 0 ? segmentId : segmentId.slice(0, colon);
}

/** The id with every ':' made '-', for file and object names ("attr:country:no" → "attr-country-no"). */
export function fileSafeId(segmentId: string): string {
  return segmentId.replaceAll(":", "-");
}
