/**
 * Builds the web console's bundle once, as the server does on the first request for it, and prints its
 * files and sizes: `npm test` runs it before the tests so that a front-end build error fails fast, with
 * esbuild's message, instead of as a browser test's timeout. Writes nothing.
 */
import { buildConsoleBundle } from '../src/http/console/console-assets.ts';

const files = await buildConsoleBundle();
for (const [name, file] of files) process.stdout.write(`console: ${name} ${file.body.length} bytes\n`);
