/** Image references: what a job, the CLI and the routes accept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseImageReference } from './image-schemas.ts';

const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;

test('name, name:tag and name@digest parse; a bare name is :latest', () => {
  assert.deepEqual(parseImageReference('torch'), { name: 'torch', tag: 'latest' });
  assert.deepEqual(parseImageReference('torch:2.3.1-cuda_12'), { name: 'torch', tag: '2.3.1-cuda_12' });
  assert.deepEqual(parseImageReference(`torch@${digest}`), { name: 'torch', digest });
});

test('malformed references are refused', () => {
  for (const ref of ['', 'Torch', '../x', 'a/b', 'a:', 'a:-x', `a@${digest.toUpperCase()}`, 'a@sha256:abc', 'a:b@c', '.a', 'a b', `a:${'x'.repeat(129)}`]) {
    assert.equal(parseImageReference(ref), undefined, ref);
  }
});
