/**
 * The node flags the platform's process starts with: `bin/bulkhead` passes them, and so does the launcher
 * that tests and benchmarks start the real server with (test/support/server-process.ts), so a benchmark
 * measures what production runs. Only flags that must be given at start-up belong here (NODE_OPTIONS
 * refuses these); flags V8 reads at run time are set in server.ts with `setFlagsFromString`.
 *
 * `--initial-old-space-size=512` (MB): a floor under V8's old-generation allocation limit. An upload's body
 * arrives as one fresh 64 KiB ArrayBuffer per socket read (Node's HTTP parser copies every body piece);
 * V8 counts those bytes against a limit computed from the ≈ 55 MB live heap, and so ran a full
 * mark-compact of the whole heap ("GC in old space requested") every ≈ 64–100 MiB received: 5 per two
 * 256 MiB uploads, 0 with this floor (docs/benchmarks.md, artifact upload). The buffers themselves die in
 * scavenges; the cost is that garbage may grow to ≈ 512 MB before the next full collection.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=512'];
