import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SERVER_NODE_FLAGS } from './server-node-flags.ts';

test('bin/bulkhead starts node with exactly the start-up flags of server-node-flags.ts', () => {
  const launcher = readFileSync(new URL('../../bin/bulkhead', import.meta.url), 'utf8');
  const exec = launcher.split('\n').find((line) => line.startsWith('exec "$node"'));
  assert.ok(exec !== undefined, 'bin/bulkhead has an exec "$node" line');
  const flags = exec.split(' ').filter((word) => word.startsWith('--'));
  assert.deepEqual(flags, [...SERVER_NODE_FLAGS]);
});

test('the pinned node accepts every start-up flag (a renamed V8 flag fails here, not at deploy)', () => {
  const out = execFileSync(process.execPath, [...SERVER_NODE_FLAGS, '-p', '"ok"'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out.trim(), 'ok');
});

test('npm start goes through bin/bulkhead, so it gets the same flags', () => {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(manifest.scripts['start'], 'bin/bulkhead up');
});

test('the platform image starts node with the same flags: its entry script\'s shebang and the image\'s NODE_OPTIONS', () => {
  const entry = readFileSync(new URL('../../containers/bulkhead-entry.mjs', import.meta.url), 'utf8').split('\n')[0] ?? '';
  // A shebang passes what follows the interpreter as one argument: one flag at most.
  const shebang = /^#!\/usr\/local\/bin\/node(?: (\S+))?$/.exec(entry);
  assert.ok(shebang !== null, `the entry script's shebang names the image's node with at most one flag: ${entry}`);
  const containerfile = readFileSync(new URL('../../containers/platform.Containerfile', import.meta.url), 'utf8');
  const nodeOptions = /^\s*NODE_OPTIONS=(\S+) \\$/m.exec(containerfile)?.[1]?.split(',') ?? [];
  const flags = [...(shebang[1] === undefined ? [] : [shebang[1]]), ...nodeOptions];
  assert.deepEqual([...flags].sort(), [...SERVER_NODE_FLAGS].sort());
  // NODE_OPTIONS takes each of its flags (the pinned node is the image's version).
  const out = execFileSync(process.execPath, ['-p', '"ok"'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out.trim(), 'ok');
});
