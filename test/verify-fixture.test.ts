/**
 * The verify fixture route (a route that skips the tenant check) exists only in test/: nothing under
 * src/ (test files aside) imports test/, so no production build can register it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src', import.meta.url));

const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []));

test('no non-test source file under src/ imports from test/ or names the fixture route', () => {
  const offenders = files(src).filter((file) => {
    const text = readFileSync(file, 'utf8');
    return /from ['"][^'"]*\/test\//.test(text) || /import\(['"][^'"]*\/test\//.test(text) || text.includes('verify-fixture');
  });
  assert.deepEqual(offenders, []);
});
