/**
 * scripts/run-tests.ts, the suite's runner: a test file whose process died of V8's JIT-page CHECK
 * (nodejs/node#64500) is run once more; every other failure, and a second abort, fails the run.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fixtures = 'test/fixtures/run-tests';

const runTests = (...files: string[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-run-tests-'));
  try {
    const result = spawnSync(process.execPath, ['scripts/run-tests.ts', ...files.map((f) => `${fixtures}/${f}`)], {
      encoding: 'utf8',
      env: { ...process.env, RUN_TESTS_FIXTURE_DIR: dir, NODE_TEST_CONTEXT: undefined },
    });
    return { code: result.status, out: result.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

describe('scripts/run-tests.ts', () => {
  test('a file that died of the V8 abort is run once more; it passes then, so the run passes', () => {
    const { code, out } = runTests('passes.ts', 'aborts-once.ts');
    assert.equal(code, 0, out);
    assert.match(out, /1 test file\(s\) died of V8's JIT-page CHECK/);
    assert.match(out, /aborts-once\.ts/);
    assert.match(out, /the re-run passed/);
  });

  test('a file that aborts again fails the run', () => {
    const { code, out } = runTests('passes.ts', 'aborts-always.ts');
    assert.notEqual(code, 0, out);
    assert.match(out, /the re-run failed/);
  });

  test('an ordinary failure is not run again, even next to an abort', () => {
    const failing = runTests('passes.ts', 'fails.ts');
    assert.notEqual(failing.code, 0, failing.out);
    assert.doesNotMatch(failing.out, /running them once more/);
    const both = runTests('fails.ts', 'aborts-once.ts');
    assert.notEqual(both.code, 0, both.out);
    assert.doesNotMatch(both.out, /running them once more/);
  });

  test('all passing: exit 0, nothing run again', () => {
    const { code, out } = runTests('passes.ts');
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /running them once more/);
  });
});
