/** The `bulkhead` command line. Talks to the API over HTTP, except the offline `admin` group. */
export { buildProgram, runCli } from './program.ts';
export type { CliDeps, AdminOperations, AdminServer, ApplyKubernetesBundle, ServeModelOptions } from './program.ts';
export { processIo } from './output.ts';
export type { CliIo } from './output.ts';
