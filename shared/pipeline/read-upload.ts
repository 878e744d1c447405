/**
 * Reading a transactions upload from the bucket: a plain CSV large enough is read on every core by the
 * engine's parallel reader (shared/engine/parallel), each worker fed by a ranged GET of its byte range, a
 * few chunks ahead, so no range is held whole in memory; everything else (NDJSON, gzip, small files) is read
 * from the object's one stream in this thread. Either way the state, counts and rejected rows are those of a
 * read in one thread; an error of a stream (a connection that breaks) is rethrown as it is, and the run
 * fails and is retried as for any read.
 */
import {
  type IngestOptions,
  type IngestReport,
  ingestTransactions,
  ingestTransactionsParallel,
  type ParallelOptions,
  type RangeSource,
} from "../engine";
import type { AggregateState } from "../engine/state";
import type { BlobStore } from "./ports";

export interface UploadRead {
  /** The state holding the file's rows (the one passed in, or a new one when that was empty). */
  readonly state: AggregateState;
  readonly report: IngestReport;
  /** Threads that read the file. */
  readonly threads: number;
}

/**
 * Reads the transactions upload `key` into `state`. `opened` is the object's stream, already opened by the
 * caller: it serves the start of the file (or the whole of it in one thread).
 */
export async function readUploadTransactions(
  blobs: BlobStore,
  key: string,
  opened: AsyncIterable<Uint8Array>,
  options: IngestOptions,
  state: AggregateState,
  parallel: ParallelOptions = {},
): Promise<UploadRead> {
  const size = options.format === "csv" ? await blobs.size(key) : undefined;
  if (size === undefined) {
    return { state, report: await ingestTransactions(opened, options, state), threads: 1 };
  }
  let first: AsyncIterable<Uint8Array> | undefined = opened;
  const source: RangeSource = {
    size,
    open(start) {
      if (start === 0 && first !== undefined) {
        const stream = first;
        first = undefined;
        return stream;
      }
      return (async function* () {
        const stream = await blobs.streamRange(key, start, size);
        if (stream === undefined) throw new Error("The uploaded file disappeared while it was read");
        yield* stream;
      })();
    },
  };
  try {
    const read = await ingestTransactionsParallel(source, options, state, parallel);
    return { state: read.state, report: read.report, threads: read.threads };
  } finally {
    // The stream opened by the caller and never read is closed.
    if (first !== undefined) await (first as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]().return?.();
  }
}
