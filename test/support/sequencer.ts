/**
 * The order test files start in: the default (files that failed or took long last time first, then larger
 * files), except that the few slow end-to-end files go first whatever the cache says. They mostly wait on a
 * child service, so started first they overlap with the rest of the suite instead of running alone at its
 * end; on a fresh clone there is no cache to tell the default order which files are slow.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Files that take minutes: the first start of `npm start` loads the CDNOW demo into DynamoDB Local. */
const SLOW = ["test/e2e/local-lifecycle.e2e.test.ts", "test/browser/dashboard.test.ts"];

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
