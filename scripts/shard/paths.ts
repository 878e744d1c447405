/** Where the local sharded runner keeps its objects: one file per part, partial and order list. */
import { join } from "node:path";

export const partPath = (dir: string, range: number, bucket: number) =>
  join(dir, `part-r${range}-b${bucket}.bin`);
export const partialPath = (dir: string, bucket: number) => join(dir, `partial-b${bucket}.bin`);
export const ordersPath = (dir: string, bucket: number, slice: number) =>
  join(dir, `orders-b${bucket}-s${slice}.bin`);
