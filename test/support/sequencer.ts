/**
 * The order test files start in: the default (files that failed or took long last time first, then larger
 * files), except that the files known to take half a minute or more go first whatever the cache says,
 * longest first. On a fresh clone (CI) there is no cache to tell the default order which files are slow, and
 * it ranks by size: a short file that waits a minute on a child service (kill-recovery) would start near the
 * end and run alone there. Longest first on two workers leaves the short files to fill the end evenly, and
 * the files that mostly wait (on a child service, Chromium or the emulators) overlap with the rest.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Files that take half a minute or more, longest first (seconds of a clean run on the shared 2-core
 * machine in brackets). The first start of `npm start` loads the CDNOW demo into DynamoDB Local; cdk/site
 * asks first for the one `cdk synth` the CDK files share (test/cdk/assembly.ts), so it runs early and the
 * other CDK files find it done.
 */
const SLOW = [
  "test/browser/dashboard.test.ts", // 66
  "test/e2e/online-retail.e2e.test.ts", // 60
  "test/e2e/local-lifecycle.e2e.test.ts", // 55
  "test/cdk/site.test.ts", // 46
  "test/unit/cli/segment-parallel.test.ts", // 44
  "test/e2e/kill-recovery.e2e.test.ts", // 40
  "test/integration/emulators.test.ts", // 39
  "test/unit/cli/scripts.test.ts", // 35
  "test/fuzz/http.fuzz.test.ts", // 35
  "test/e2e/model.e2e.test.ts", // 33
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const at = SLOW.findIndex((path) => f.moduleId.endsWith(path));
      return at < 0 ? SLOW.length : at;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}
