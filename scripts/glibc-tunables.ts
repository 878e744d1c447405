/**
 * glibc's malloc tunables the engine runs with locally: `npm run segment` sets them (package.json's `segment`
 * script), and the benchmarks give their engine children the same, so that they measure the engine as the CLI
 * runs it. `glibc.malloc.hugetlb=1` puts malloc's large blocks in transparent huge pages (glibc 2.35 or later,
 * the kernel's THP mode "madvise" or "always"): a run at 1 M customers touches gigabytes of fresh memory, and
 * on a virtual machine each first touch of a 4 KB page costs some 15 µs against a tenth of that a 2 MB page
 * (BENCHMARKS.md, "Huge pages"). Elsewhere (another libc, an older glibc, THP "never") it changes nothing. An
 * environment that sets GLIBC_TUNABLES, even to nothing (glibc's defaults), keeps its own.
 */
export const ENGINE_GLIBC_TUNABLES = "glibc.malloc.hugetlb=1";

/** GLIBC_TUNABLES for an engine child: the environment's own when it sets one, else ENGINE_GLIBC_TUNABLES. */
export function glibcTunables(env: NodeJS.ProcessEnv = process.env): string {
  return env.GLIBC_TUNABLES ?? ENGINE_GLIBC_TUNABLES;
}
