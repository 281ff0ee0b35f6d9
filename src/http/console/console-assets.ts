import { fileURLToPath } from 'node:url';

/**
 * The console's front end (ui/src, Preact + uPlot), bundled by esbuild in this process on the first
 * request for it and kept in memory: nothing built is written to disk or committed, and `npm ci && npm
 * start` serves the console with no separate build step (docs/console.md). A build error fails that
 * request (and the next retries), never start-up.
 */
export interface ConsoleAssets {
  /** `app.js`, `app.css` → bytes and content type; undefined for an unknown name. */
  get(name: string): Promise<{ body: Buffer; type: string } | undefined>;
}

const entry = fileURLToPath(new URL('../../../ui/src/main.tsx', import.meta.url));

const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export const buildConsoleBundle = async (options: { minify?: boolean } = {}): Promise<Map<string, { body: Buffer; type: string }>> => {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: { app: entry },
    bundle: true,
    write: false,
    outdir: '/ui-assets',
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    // No eval, no runtime code generation: the bundle runs under script-src 'self'.
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const ext = name.slice(name.lastIndexOf('.'));
    files.set(name, { body: Buffer.from(file.contents), type: types[ext] ?? 'application/octet-stream' });
  }
  return files;
};

export const createConsoleAssets = (): ConsoleAssets => {
  let built: Promise<Map<string, { body: Buffer; type: string }>> | undefined;
  return {
    async get(name) {
      built ??= buildConsoleBundle().catch((error: unknown) => {
        built = undefined;
        throw error;
      });
      return (await built).get(name);
    },
  };
};
