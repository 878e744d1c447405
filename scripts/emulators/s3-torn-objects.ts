/**
 * Objects a killed S3 server left half-written, removed before it serves the directory again.
 *
 * s3rver stores an object as three files, written one after the other: its content (`<name>._S3rver_object`),
 * the content's MD5 (`….md5`), then its metadata (`<name>._S3rver_metadata.json`). A process killed between
 * them leaves an object that S3 would never show: metadata empty or missing, or content cut short. s3rver
 * then fails every listing of that prefix and every read of that key with a 500. A PUT to S3 is atomic, and
 * one interrupted leaves nothing, so these objects are removed as if their PUT had never happened.
 *
 * The scan reads every object's content, so it runs only when the directory was not closed cleanly: the
 * server marks the directory open while it runs ({@link OPEN_MARKER}) and removes the mark when it stops.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

/** A file in the root of the directory while a server runs on it; s3rver takes only folders for buckets. */
export const OPEN_MARKER = ".s3-server-open";

const OBJECT = "._S3rver_object";
const MD5 = "._S3rver_object.md5";
const METADATA = "._S3rver_metadata.json";

async function md5Of(path: string): Promise<string> {
  const hash = createHash("md5");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** True when the object's three files are all there and agree: metadata a JSON object, content of its MD5. */
async function whole(base: string): Promise<boolean> {
  const metadata = await readOrUndefined(base + METADATA);
  if (metadata === undefined) return false;
  try {
    const parsed: unknown = JSON.parse(metadata);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
  } catch {
    return false;
  }
  const md5 = (await readOrUndefined(base + MD5))?.trim();
  if (md5 === undefined || !/^[0-9a-f]{32}$/.test(md5)) return false;
  try {
    return (await md5Of(base + OBJECT)) === md5;
  } catch {
    return false;
  }
}

/**
 * Removes from an s3rver directory every object whose files a killed process left half-written (and the
 * MD5 or metadata files of content that is gone). Returns the paths of the objects removed, without suffix.
 */
export async function removeTornObjects(directory: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(directory, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const bases = new Set<string>();
  for (const entry of entries) {
    for (const suffix of [MD5, OBJECT, METADATA]) {
      if (entry.endsWith(suffix)) {
        bases.add(join(directory, entry.slice(0, -suffix.length)));
        break;
      }
    }
  }
  const removed: string[] = [];
  for (const base of [...bases].sort()) {
    if (await whole(base)) continue;
    await Promise.all([OBJECT, MD5, METADATA].map((suffix) => rm(base + suffix, { force: true })));
    removed.push(base);
  }
  return removed;
}
