import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxViolationOf } from './job-outcome.ts';

test('the job store audits a violation only for non-zero counts, and only those counts', () => {
  assert.equal(sandboxViolationOf(undefined), undefined);
  assert.equal(sandboxViolationOf({ wallMs: 5 }), undefined);
  assert.equal(sandboxViolationOf({ deniedNetwork: { refusedConnects: 0, unroutableSends: 0, closedPortDatagrams: 0 } }), undefined);
  assert.deepEqual(sandboxViolationOf({ deniedNetwork: { refusedConnects: 3, unroutableSends: 0, closedPortDatagrams: 'x' } }), { refusedConnects: 3 });
});
