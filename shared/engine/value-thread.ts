/**
 * The value stage (value.ts) on a thread of its own, while the calling thread goes on with the stages that do
 * not need its result (computeSegments fits the clusters meanwhile). The caller stays synchronous: start()
 * posts the stage's inputs to a new worker thread, and join() blocks (Atomics.wait) until the thread has
 * posted the stage's result, which it then takes with receiveMessageOnPort. The thread runs valueStage itself
 * on copies of the same inputs, so the result is the one a call in the calling thread gives, bit for bit
 * (test/unit/engine/value-thread.test.ts).
 *
 * Started with `gammaGamma: true`, the thread leaves the Gamma-Gamma fit (which reads x and m_x only) to the
 * calling thread, which fits it (fitGammaGamma) while the thread validates the repeat models and fits the chosen
 * one, and the thread takes that outcome, the same fit or the same error, when it comes to it.
 *
 * The holdout's calibration totals (customerTotals as of the calibration end, which needs the orders) are
 * worked out by the caller before the thread starts, for the calibration end the value stage will ask for
 * (value.ts: asOf − the holdout length). Whenever the thread cannot give the result — it could not start,
 * failed, asked for other totals, or posted nothing within JOIN_DEADLINE_MS — join() returns undefined and
 * the caller runs valueStage itself, so the outcome, a result or an error, is always the one-thread one.
 *
 * From source (tests, tsx) the thread runs this file through tsx; in a bundle (the segment CLI) this module's
 * own bundle next to it, or where that is absent the bundle itself (threads.ts workerEntry), whose copy of
 * this module serves the task when the thread's workerData is VALUE_WORKER. A thread whose entry fails to load says so at once (the flag), so join() does not wait on it.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  Worker,
  workerData,
} from "node:worker_threads";
import { ClvFitError, type ClvFitErrorCode, fitGammaGamma, type GammaGammaFit } from "./clv";
import { WORKER_BUNDLES, workerEntry } from "./threads";
import {
  calibrationEndDay,
  type HoldoutContext,
  type ResolvedValueSettings,
  type ValueInputs,
  type ValueStage,
  valueStage,
} from "./value";

/**
 * Fewest customers for which the segment CLI runs the value stage on its own thread. A thread costs its start
 * (the engine loaded in it) and a copy of the inputs, paid back only where the clusters take long enough to
 * hide the stage behind; the bound is set well above the small files (on CDNOW's 23,570 customers, from
 * source, the thread's start cost more than the overlap saved) and has not been tuned on a quiet machine.
 */
export const VALUE_THREAD_MIN_CUSTOMERS = 200_000;

/** The workerData of a value thread, with the flag it raises (see ValueThread). */
export const VALUE_WORKER = { valueStage: 1 } as const;

/** The flag's states: nothing yet, an answer posted, the thread's entry failed to load. */
const WAITING = 0;
const ANSWERED = 1;
const FAILED = 2;

/** Longest join() waits for the thread before the caller runs the stage itself: only a hung thread takes it. */
export const JOIN_DEADLINE_MS = 10 * 60_000;

type CalibrationColumns = ReturnType<NonNullable<HoldoutContext["totalsAsOf"]>>;

/**
 * The Gamma-Gamma fit from the calling thread (ValueThread.fitGammaGamma): the fit, its ClvFitError, or none
 * (any other error: the thread then fits it itself, meeting the same error).
 */
type GammaGammaAnswer =
  | { fit: GammaGammaFit }
  | { error: { code: ClvFitErrorCode; message: string } }
  | { none: true };

interface ValueTask {
  port: MessagePort;
  /** Where the calling thread posts its Gamma-Gamma fit, raising the flag; null: the thread fits it. */
  gammaGamma: { port: MessagePort; flag: SharedArrayBuffer } | null;
  data: ValueInputs;
  settings: ResolvedValueSettings;
  asOfDay: number;
  columns: HoldoutContext["columns"];
  /** Whether the caller's context had totalsAsOf. */
  history: boolean;
  calibration: { day: number; columns: CalibrationColumns } | null;
}

type Answer = { ok: true; stage: ValueStage; ms: number } | { ok: false; message: string };

/** A copy of a typed array in a buffer of its own (transferable without taking the caller's). */
function own<A extends Float64Array | Int32Array | Uint32Array>(array: A): A {
  return array.slice() as A;
}

/** The buffers of a result's typed arrays, each once, to transfer rather than copy. */
function buffersOf(value: unknown, out = new Set<ArrayBuffer>()): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) out.add(value.buffer);
  } else if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) buffersOf(v, out);
  }
  return [...out];
}

function runTask(task: ValueTask, flag: Int32Array): void {
  let answer: Answer;
  try {
    const started = performance.now();
    const { calibration } = task;
    const context: HoldoutContext = {
      asOfDay: task.asOfDay,
      columns: task.columns,
      ...(task.history
        ? {
            totalsAsOf: (day: number) => {
              if (calibration === null || day !== calibration.day) {
                throw new Error(`the value thread has no totals as of day ${day}`);
              }
              return calibration.columns;
            },
          }
        : {}),
    };
    const given = task.gammaGamma;
    const stage = valueStage(
      task.data,
      task.settings,
      context,
      given === null ? undefined : () => gammaGammaFromCaller(given, task.data),
    );
    answer = { ok: true, stage, ms: performance.now() - started };
  } catch (error) {
    answer = { ok: false, message: String((error as Error)?.message ?? error) };
  }
  try {
    task.port.postMessage(answer, answer.ok ? buffersOf(answer.stage) : []);
  } catch (error) {
    task.port.postMessage({ ok: false, message: `cannot post the result: ${String(error)}` });
  } finally {
    Atomics.store(flag, 0, ANSWERED);
    Atomics.notify(flag, 0);
    task.port.close();
  }
}

/** The calling thread's Gamma-Gamma fit, waited for (it comes long before it is needed); see GammaGammaAnswer. */
function gammaGammaFromCaller(
  given: { port: MessagePort; flag: SharedArrayBuffer },
  data: ValueTask["data"],
): GammaGammaFit {
  const flag = new Int32Array(given.flag);
  const started = performance.now();
  while (Atomics.load(flag, 0) === WAITING) {
    const left = JOIN_DEADLINE_MS - (performance.now() - started);
    if (left <= 0) break;
    Atomics.wait(flag, 0, WAITING, Math.min(left, 1000));
  }
  const answer = receiveMessageOnPort(given.port)?.message as GammaGammaAnswer | undefined;
  given.port.close();
  if (answer !== undefined && "fit" in answer) return answer.fit;
  if (answer !== undefined && "error" in answer)
    throw new ClvFitError(answer.error.code, answer.error.message);
  return fitGammaGamma(data.x, data.mx);
}

type ValueWorkerData = typeof VALUE_WORKER & { flag: SharedArrayBuffer };

if (!isMainThread && parentPort !== null && (workerData as ValueWorkerData | undefined)?.valueStage === 1) {
  const flag = new Int32Array((workerData as ValueWorkerData).flag);
  parentPort.once("message", (task: ValueTask) => runTask(task, flag));
}

/**
 * Starts a thread on `url` (through tsx for a .ts entry) that raises `flag` to FAILED should the entry fail to
 * load, so that join() never waits on a thread that cannot answer.
 */
function startValueWorker(url: URL, flag: SharedArrayBuffer): Worker {
  const register = url.pathname.endsWith(".ts")
    ? `const { register } = await import(${JSON.stringify(
        pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs"),
      )}); register();`
    : "";
  const code =
    `import { workerData } from "node:worker_threads";` +
    `try { ${register} await import(${JSON.stringify(url.href)}); } catch {` +
    ` const flag = new Int32Array(workerData.flag); Atomics.store(flag, 0, ${FAILED}); Atomics.notify(flag, 0); }`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
    workerData: { ...VALUE_WORKER, flag } satisfies ValueWorkerData,
  });
}

/** The value stage running on its own thread; see the module header. */
export class ValueThread {
  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly flag: Int32Array,
    private readonly started: number,
    private readonly gammaGamma: { port: MessagePort; flag: Int32Array } | null,
  ) {}

  /**
   * Fits Gamma-Gamma on (x, mx) — the inputs' x and mx, which the thread took — in the calling thread and hands
   * the outcome to the thread, which waits for it rather than fit it itself. Only for a thread started with
   * `gammaGamma: true`; once. The thread's result is the same either way.
   */
  fitGammaGamma(x: Float64Array, mx: Float64Array): void {
    const given = this.gammaGamma;
    if (given === null) throw new Error("This value thread fits Gamma-Gamma itself");
    let answer: GammaGammaAnswer;
    try {
      answer = { fit: fitGammaGamma(x, mx) };
    } catch (error) {
      answer =
        error instanceof ClvFitError
          ? { error: { code: error.code, message: error.message } }
          : { none: true };
    }
    try {
      given.port.postMessage(answer);
    } catch {
      given.port.postMessage({ none: true } satisfies GammaGammaAnswer);
    } finally {
      Atomics.store(given.flag, 0, ANSWERED);
      Atomics.notify(given.flag, 0);
      given.port.close();
    }
  }

  /**
   * Starts valueStage(data, settings, context) on a new thread; undefined when no thread can be started (the
   * caller then runs the stage itself). The inputs are copied, the caller's arrays staying the caller's, unless
   * `data` is "take": then data's buffers move to the thread (no copy; the caller's arrays of data are left
   * detached, empty, once the thread has started), for a caller that made them for the stage alone.
   */
  static start(
    data: ValueInputs,
    settings: ResolvedValueSettings,
    context: HoldoutContext,
    url: URL | undefined = workerEntry(import.meta.url, "./value-thread.ts", WORKER_BUNDLES.value),
    inputs: { data: "copy" | "take"; gammaGamma?: boolean } = { data: "copy" },
  ): ValueThread | undefined {
    if (url === undefined) return undefined;
    let worker: Worker | undefined;
    try {
      const { asOfDay, columns } = context;
      let calibration: ValueTask["calibration"] = null;
      if (context.totalsAsOf !== undefined) {
        // The calibration end validate() (value.ts) asks for.
        let firstOrderDay = asOfDay;
        for (const day of columns.firstPurchaseDay) if (day < firstOrderDay) firstOrderDay = day;
        const day = calibrationEndDay(settings, firstOrderDay, asOfDay);
        if (day !== undefined) {
          const t = context.totalsAsOf(day);
          calibration = {
            day,
            columns: {
              stateIndex: own(t.stateIndex),
              firstPurchaseDay: own(t.firstPurchaseDay),
              lastPurchaseDay: own(t.lastPurchaseDay),
              purchaseDays: own(t.purchaseDays),
            },
          };
        }
      }
      const gg =
        inputs.gammaGamma === true
          ? { channel: new MessageChannel(), flag: new Int32Array(new SharedArrayBuffer(4)) }
          : null;
      const task: Omit<ValueTask, "port" | "flag"> = {
        gammaGamma:
          gg === null ? null : { port: gg.channel.port2, flag: gg.flag.buffer as SharedArrayBuffer },
        data:
          inputs.data === "take"
            ? data
            : {
                x: own(data.x),
                tx: own(data.tx),
                T: own(data.T),
                mx: own(data.mx),
                fallbackOrderValue: own(data.fallbackOrderValue),
              },
        settings,
        asOfDay,
        columns: {
          stateIndex: own(columns.stateIndex),
          firstPurchaseDay: own(columns.firstPurchaseDay),
          purchaseDays: own(columns.purchaseDays),
        },
        history: context.totalsAsOf !== undefined,
        calibration,
      };
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const { port1, port2 } = new MessageChannel();
      worker = startValueWorker(url, flag.buffer as SharedArrayBuffer);
      // Errors arrive when the caller next runs its event loop; join() has given its answer by then.
      worker.on("error", () => undefined);
      worker.unref();
      worker.postMessage({ ...task, port: port2 }, [
        port2,
        ...(gg === null ? [] : [gg.channel.port2]),
        ...buffersOf(task.data),
        ...buffersOf(task.columns),
        ...buffersOf(task.calibration),
      ]);
      return new ValueThread(
        worker,
        port1,
        flag,
        performance.now(),
        gg === null ? null : { port: gg.channel.port1, flag: gg.flag },
      );
    } catch {
      if (worker !== undefined) void worker.terminate();
      return undefined;
    }
  }

  /**
   * The thread's result and its own time in milliseconds, waiting for it; undefined when the thread gives none
   * (the caller then runs the stage itself). Stops the thread.
   */
  join(): { stage: ValueStage; ms: number } | undefined {
    try {
      while (Atomics.load(this.flag, 0) === WAITING) {
        const left = JOIN_DEADLINE_MS - (performance.now() - this.started);
        if (left <= 0) return undefined;
        Atomics.wait(this.flag, 0, WAITING, Math.min(left, 1000));
      }
      if (Atomics.load(this.flag, 0) !== ANSWERED) return undefined;
      const answer = receiveMessageOnPort(this.port)?.message as Answer | undefined;
      return answer?.ok === true ? { stage: answer.stage, ms: answer.ms } : undefined;
    } finally {
      this.port.close();
      this.gammaGamma?.port.close();
      void this.worker.terminate();
    }
  }
}
