/** Run ids: kept apart from the pipeline so that code which only names runs does not load the engine. */
import { createHash } from "node:crypto";

/** Run ids sort by time and are derived from the event, so a redelivered event maps to the same run. */
export function runIdFor(time: string, ...parts: string[]): string {
  const stamp = time
    .replace(/[^0-9]/g, "")
    .slice(0, 17)
    .padEnd(17, "0");
  const hash = createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 12);
  return `${stamp}-${hash}`;
}
