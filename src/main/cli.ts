/** The `bulkhead` executable's entry point: wires the CLI to the real server and admin operations. */
import { runCli, processIo } from '../cli/index.ts';
import { adminOperations } from './admin-operations.ts';
import { runServer } from './server.ts';
import { serveModel } from './serve-model.ts';

const code = await runCli(process.argv.slice(2), { io: processIo, env: process.env, runServer, admin: adminOperations, serveModel });
if (process.argv[2] !== 'up') process.exitCode = code;
else if (code !== 0) process.exit(code);
