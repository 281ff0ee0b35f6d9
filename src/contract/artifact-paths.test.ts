import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientBaseName, normalizeArtifactPath } from './artifact-paths.ts';

test('normalizes harmless paths', () => {
  assert.equal(normalizeArtifactPath('1/abc/artifacts/model.onnx'), '1/abc/artifacts/model.onnx');
  assert.equal(normalizeArtifactPath('a//b/./c/'), 'a/b/c');
  assert.equal(normalizeArtifactPath('', { allowRoot: true }), '');
  assert.equal(normalizeArtifactPath('..data/x..y'), '..data/x..y');
});

test('refuses escapes and odd characters', () => {
  for (const bad of ['../x', 'a/../../x', 'a/..', '..', '/etc/passwd', 'a\\b', '..\\x', 'a\u0000b', 'C:/x', 'a\nb', '', '.', './', 'x'.repeat(1025)]) {
    assert.throws(() => normalizeArtifactPath(bad), (error: { code?: string }) => error.code === 'VALIDATION_FAILED', JSON.stringify(bad));
  }
});

test('no accepted path has a .. segment, a leading slash, a backslash or an empty segment', () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', '.', '/', '\\', '\u0000', 'b') , maxLength: 20 }), (raw) => {
    let path: string;
    try {
      path = normalizeArtifactPath(raw);
    } catch {
      return true;
    }
    const segments = path.split('/');
    return !path.startsWith('/') && !path.includes('\\') && !path.includes('\u0000') && segments.every((s) => s !== '' && s !== '.' && s !== '..');
  }));
});

test('client base names drop directories of either separator', () => {
  assert.equal(clientBaseName('/tmp/x/model.bin'), 'model.bin');
  assert.equal(clientBaseName('C:\\Users\\me\\model.bin'), 'model.bin');
  assert.equal(clientBaseName('..'), '..');
});
