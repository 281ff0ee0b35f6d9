import { setFlagsFromString } from 'node:v8';

/**
 * The node flags the platform's process starts with: `bin/bulkhead` passes them, and so does the launcher
 * that tests and benchmarks start the real server with (test/support/server-process.ts), so a benchmark
 * measures what production runs. Only flags that must be given at start-up belong here (NODE_OPTIONS
 * refuses these); flags V8 reads at run time are SERVER_RUNTIME_V8_FLAGS below.
 *
 * `--initial-old-space-size=512` (MB): a floor under V8's old-generation allocation limit. An upload's body
 * arrives as one fresh 64 KiB ArrayBuffer per socket read (Node's HTTP parser copies every body piece);
 * V8 counts those bytes against a limit computed from the ≈ 55 MB live heap, and so ran a full
 * mark-compact of the whole heap ("GC in old space requested") every ≈ 64–100 MiB received: 5 per two
 * 256 MiB uploads, 0 with this floor (docs/benchmarks.md, artifact upload). The buffers themselves die in
 * scavenges; the cost is that garbage may grow to ≈ 512 MB before the next full collection.
 *
 * `--max-semi-space-size=16` (MB): a cap on the young generation. Node 24 sized it from the machine's memory
 * (24 GB here): ≈ 43 MB were allocated between two scavenges and ≈ 10 MB survived each, so every ≈ 0.6 s the
 * thread that serves every tenant stopped for 25–38 ms (--trace-gc, one tenant's 100-row searches back to
 * back: the p99 was 4× the p50, with nothing else running). With 16 MB a scavenge takes 8–10 ms, the search's
 * p99 fell from 41–42 ms to 22–29 ms (p50 unchanged), and runs/create + log-batch took 8–17 % less of the
 * server's CPU per run on PostgreSQL (two alternated comparisons; docs/benchmarks.md). Uploads are
 * unaffected (their bodies are external memory).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=512', '--max-semi-space-size=16'];

/**
 * The V8 flags the server sets at run time, first thing in `runServer` (before it allocates anything
 * large). Streams allocate a Buffer per chunk (an upload: one per 64 KiB socket read). On Node 24 (V8 13.6)
 * such short-lived ArrayBuffers no longer start a scavenge before the fixed 64 MiB external-memory soft
 * limit starts a full mark-compact, so every ~64 MiB received costs a full GC of the whole heap
 * (nodejs/node #61967, #63863). Counting external memory in the global limit (what V8 now does by
 * default) restores the scavenges: one 256 MiB upload went from ≈ 0.7 s to ≈ 0.1 s of GC-thread CPU
 * (docs/benchmarks.md). A heap-sizing flag, read at every limit computation, so setting it at run time
 * takes effect. It is not enough on its own: with the global limit computed from the ≈ 55 MB live heap,
 * full mark-compacts still came every ≈ 64–100 MiB received; the start-up floor under that limit
 * (`--initial-old-space-size`, above) removes them. Without both, 20 inference requests a second of
 * 0.94 MB each cost a full mark-compact every ≈ 0.25 s on the thread that serves every tenant
 * (bench/noisy-neighbour.ts).
 */
export const SERVER_RUNTIME_V8_FLAGS: readonly string[] = ['--external-memory-accounted-in-global-limit'];

/** Sets SERVER_RUNTIME_V8_FLAGS in this process (the server, and benchmarks that host a platform). */
export const applyServerRuntimeFlags = (): void => {
  for (const flag of SERVER_RUNTIME_V8_FLAGS) setFlagsFromString(flag);
};
