/**
 * The value stage (value.ts) on a thread of its own, while the calling thread goes on with the stages that do
 * not need its result (computeSegments fits the clusters meanwhile). The caller stays synchronous: start()
 * posts the stage's inputs to a new worker thread, and join() blocks (Atomics.wait) until the thread has
 * posted the stage's result, which it then takes with receiveMessageOnPort. The thread runs valueStage itself
 * on copies of the same inputs, so the result is the one a call in the calling thread gives, bit for bit
 * (test/unit/engine/value-thread.test.ts).
 *
 * The holdout's calibration totals (customerTotals as of the calibration end, which needs the orders) are
 * worked out by the caller before the thread starts, for the calibration end the value stage will ask for
 * (value.ts: asOf − the holdout length). Whenever the thread cannot give the result — it could not start,
 * failed, asked for other totals, or posted nothing within JOIN_DEADLINE_MS — join() returns undefined and
 * the caller runs valueStage itself, so the outcome, a result or an error, is always the one-thread one.
 *
 * A helper thread. From VALUE_HELPER_MIN_CUSTOMERS customers (when the holdout is validated), the value thread
 * starts one more thread on this same module, which takes copies of x and m_x (16 MB at a million) and of the
 * covariance sample and works out the part of the stage that depends neither on the model the holdout
 * selects nor on its fit (value.ts FullDataWork: the Gamma-Gamma fit and its covariance) while the value
 * thread fits the selected model on all the data. The helper starts at once but sleeps until the models are validated: the calling thread's
 * clusters are then done, as a rule, and the helper has a core of its own rather than one taken from them.
 * Should the helper fail to start, fail, or post nothing within JOIN_DEADLINE_MS, the value thread does that
 * work itself: the same result either way, bit for bit (test/unit/engine/value-thread.test.ts).
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
import { WORKER_BUNDLES, workerEntry } from "./threads";
import {
  type FullDataInputs,
  type FullDataWork,
  fullDataInputs,
  fullDataWork,
  HOLDOUT_MIN_DAYS,
  type HoldoutContext,
  holdoutDaysFor,
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

/**
 * Fewest customers for which the value thread starts a helper thread (see the module header): at a million the
 * helper takes some 0.8 s of the thread's work for a start of about 0.1 s; set between, not tuned.
 */
export const VALUE_HELPER_MIN_CUSTOMERS = 500_000;

/** The workerData of a value thread, with the flag it raises (see ValueThread). */
export const VALUE_WORKER = { valueStage: 1 } as const;

/** The flag's states: nothing yet, an answer posted, the thread's entry failed to load. */
const WAITING = 0;
const ANSWERED = 1;
const FAILED = 2;
/** The flag's second slot: raised when the helper may start its work. */
const GO = 1;

/** Longest join() waits for the thread before the caller runs the stage itself: only a hung thread takes it. */
export const JOIN_DEADLINE_MS = 10 * 60_000;

type CalibrationColumns = ReturnType<NonNullable<HoldoutContext["totalsAsOf"]>>;

/** Whether the value thread's helper (see the module header) gave the answer valueStage used. */
export type HelperOutcome = "used" | "failed" | "none";

/** When the value thread starts a helper, and on which entry (the value thread's own by default). */
export interface HelperOptions {
  /** Fewest customers for a helper; default VALUE_HELPER_MIN_CUSTOMERS. */
  from?: number;
  /** The helper's entry as a URL's href; default this module's. */
  entry?: string;
}

interface ValueTask {
  kind: "stage";
  port: MessagePort;
  helper: HelperOptions;
  data: ValueInputs;
  settings: ResolvedValueSettings;
  asOfDay: number;
  columns: HoldoutContext["columns"];
  /** Whether the caller's context had totalsAsOf. */
  history: boolean;
  calibration: { day: number; columns: CalibrationColumns } | null;
}

/** The helper's task: FullDataWork of its inputs. */
interface HelperTask {
  kind: "fullData";
  port: MessagePort;
  inputs: FullDataInputs;
}

type Answer =
  | { ok: true; stage: ValueStage; ms: number; helper: HelperOutcome }
  | { ok: false; message: string };

type HelperAnswer = { ok: true; work: FullDataWork } | { ok: false; message: string };

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

/** Posts `answer` on `port` (its typed arrays' buffers moved), then raises the flag and closes the port. */
function post(port: MessagePort, answer: Answer | HelperAnswer, value: unknown, flag: Int32Array): void {
  try {
    port.postMessage(answer, answer.ok ? buffersOf(value) : []);
  } catch (error) {
    port.postMessage({ ok: false, message: `cannot post the result: ${String(error)}` });
  } finally {
    Atomics.store(flag, 0, ANSWERED);
    Atomics.notify(flag, 0);
    port.close();
  }
}

function runHelperTask(task: HelperTask, flag: Int32Array): void {
  const started = performance.now();
  while (Atomics.load(flag, GO) === 0) {
    // A value thread that never says go has failed: this thread is stopped with it, or gives up.
    if (performance.now() - started > JOIN_DEADLINE_MS) return;
    Atomics.wait(flag, GO, 0, 1000);
  }
  let answer: HelperAnswer;
  try {
    answer = { ok: true, work: fullDataWork(task.inputs) };
  } catch (error) {
    answer = { ok: false, message: String((error as Error)?.message ?? error) };
  }
  post(task.port, answer, answer.ok ? answer.work : undefined, flag);
}

/**
 * A helper thread working out FullDataWork (see the module header) of copies of `data`'s x and m_x and of its
 * covariance sample. Undefined when the thread cannot be started.
 */
function startHelper(data: ValueInputs, entry: string | undefined): Waiter<FullDataWork> | undefined {
  const url =
    entry === undefined
      ? workerEntry(import.meta.url, "./value-thread.ts", WORKER_BUNDLES.value)
      : new URL(entry);
  if (url === undefined) return undefined;
  let worker: Worker | undefined;
  try {
    const { x, mx, sample } = fullDataInputs(data);
    const task: Omit<HelperTask, "port"> = {
      kind: "fullData",
      inputs: {
        x: own(x),
        mx: own(mx),
        sample: { x: own(sample.x), tx: own(sample.tx), T: own(sample.T), mx: own(sample.mx) },
      },
    };
    // Two slots: the answer's state, and GO.
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    worker = startValueWorker(url, flag.buffer as SharedArrayBuffer);
    worker.on("error", () => undefined);
    worker.unref();
    worker.postMessage({ ...task, port: port2 }, [port2, ...buffersOf(task.inputs)]);
    return new Waiter<FullDataWork>(worker, port1, flag, performance.now(), (message) => {
      const answer = message as HelperAnswer | undefined;
      return answer?.ok === true ? answer.work : undefined;
    });
  } catch {
    if (worker !== undefined) void worker.terminate();
    return undefined;
  }
}

function runTask(task: ValueTask, flag: Int32Array): void {
  let answer: Answer;
  let helper: Waiter<FullDataWork> | undefined;
  try {
    const started = performance.now();
    if (task.calibration !== null && task.data.x.length >= (task.helper.from ?? VALUE_HELPER_MIN_CUSTOMERS)) {
      helper = startHelper(task.data, task.helper.entry);
    }
    let outcome: HelperOutcome = helper === undefined ? "none" : "failed";
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
    const stage = valueStage(task.data, task.settings, context, {
      ...(helper === undefined
        ? {}
        : {
            fullDataWork: {
              begin: () => helper?.go(),
              join: () => {
                const work = helper?.join();
                if (work !== undefined) outcome = "used";
                return work;
              },
            },
          }),
    });
    answer = { ok: true, stage, ms: performance.now() - started, helper: outcome };
  } catch (error) {
    answer = { ok: false, message: String((error as Error)?.message ?? error) };
  } finally {
    helper?.stop();
  }
  post(task.port, answer, answer.ok ? answer.stage : undefined, flag);
}

type ValueWorkerData = typeof VALUE_WORKER & { flag: SharedArrayBuffer };

if (!isMainThread && parentPort !== null && (workerData as ValueWorkerData | undefined)?.valueStage === 1) {
  const flag = new Int32Array((workerData as ValueWorkerData).flag);
  parentPort.once("message", (task: ValueTask | HelperTask) =>
    task.kind === "fullData" ? runHelperTask(task, flag) : runTask(task, flag),
  );
}

/**
 * A thread's answer, waited for: join() blocks (Atomics.wait) until the thread raises its flag, then takes
 * the message it posted; undefined when the thread failed to load, posted a failure, or posted nothing within
 * JOIN_DEADLINE_MS of its start. Stops the thread.
 */
class Waiter<T> {
  constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly flag: Int32Array,
    private readonly started: number,
    private readonly read: (message: unknown) => T | undefined,
  ) {}

  join(): T | undefined {
    try {
      while (Atomics.load(this.flag, 0) === WAITING) {
        const left = JOIN_DEADLINE_MS - (performance.now() - this.started);
        if (left <= 0) return undefined;
        Atomics.wait(this.flag, 0, WAITING, Math.min(left, 1000));
      }
      if (Atomics.load(this.flag, 0) !== ANSWERED) return undefined;
      return this.read(receiveMessageOnPort(this.port)?.message);
    } finally {
      this.stop();
    }
  }

  /** Raises the flag's GO slot (a helper's signal to start its work). */
  go(): void {
    Atomics.store(this.flag, GO, 1);
    Atomics.notify(this.flag, GO);
  }

  stop(): void {
    this.port.close();
    void this.worker.terminate();
  }
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
    private readonly waiter: Waiter<{ stage: ValueStage; ms: number; helper: HelperOutcome }>,
  ) {}

  /**
   * Starts valueStage(data, settings, context) on a new thread; undefined when no thread can be started (the
   * caller then runs the stage itself). The inputs are copied, the caller's arrays staying the caller's, unless
   * `data` is "take": then data's buffers move to the thread (no copy; the caller's arrays of data are left
   * detached, empty, once the thread has started), for a caller that made them for the stage alone. `helper`
   * sets when the thread starts a helper of its own (see the module header), and on which entry.
   */
  static start(
    data: ValueInputs,
    settings: ResolvedValueSettings,
    context: HoldoutContext,
    url: URL | undefined = workerEntry(import.meta.url, "./value-thread.ts", WORKER_BUNDLES.value),
    inputs: { data: "copy" | "take"; helper?: HelperOptions } = { data: "copy" },
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
        const holdout = holdoutDaysFor(settings, firstOrderDay, asOfDay);
        if (holdout >= HOLDOUT_MIN_DAYS) {
          const day = asOfDay - holdout;
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
      const task: Omit<ValueTask, "port"> = {
        kind: "stage",
        helper: inputs.helper ?? {},
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
        ...buffersOf(task.data),
        ...buffersOf(task.columns),
        ...buffersOf(task.calibration),
      ]);
      return new ValueThread(
        new Waiter(worker, port1, flag, performance.now(), (message) => {
          const answer = message as Answer | undefined;
          return answer?.ok === true
            ? { stage: answer.stage, ms: answer.ms, helper: answer.helper }
            : undefined;
        }),
      );
    } catch {
      if (worker !== undefined) void worker.terminate();
      return undefined;
    }
  }

  /**
   * The thread's result, its own time in milliseconds and whether its helper's answer was used, waiting for
   * it; undefined when the thread gives none (the caller then runs the stage itself). Stops the thread.
   */
  join(): { stage: ValueStage; ms: number; helper: HelperOutcome } | undefined {
    return this.waiter.join();
  }
}
