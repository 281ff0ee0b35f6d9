import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobIntegrityError, HEADER_SIZE, createDecryptStream, createEncryptStream, unwrapDataKey, wrapDataKey } from './blob-crypto.ts';

const collect = async (chunks: Buffer[], transform: NodeJS.ReadWriteStream): Promise<Buffer> => {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), transform, async function* (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
};

const encrypt = async (key: Buffer, plaintext: Buffer, frameSize = 1024) => {
  const stream = createEncryptStream(key, frameSize);
  // Feed in odd-sized pieces so frame boundaries never line up with input chunks.
  const pieces: Buffer[] = [];
  for (let i = 0; i < plaintext.length; i += 333) pieces.push(plaintext.subarray(i, i + 333));
  const sealed = await collect(pieces, stream);
  return { sealed, digest: stream.digest(), size: stream.size() };
};

test('round-trips every size around frame boundaries and reports digest and size', async () => {
  const key = randomBytes(32);
  for (const size of [0, 1, 1023, 1024, 1025, 2048, 5000]) {
    const plaintext = randomBytes(size);
    const { sealed, digest, size: counted } = await encrypt(key, plaintext);
    assert.equal(counted, size);
    assert.equal(digest, createHash('sha256').update(plaintext).digest('hex'));
    const opened = await collect([sealed], createDecryptStream(key, { expectedDigest: digest, expectedSize: size }));
    assert.deepEqual(opened, plaintext, `size ${size}`);
  }
});

test('ciphertext does not contain the plaintext', async () => {
  const plaintext = Buffer.from('secret model weights '.repeat(500));
  const { sealed } = await encrypt(randomBytes(32), plaintext);
  assert.equal(sealed.includes(Buffer.from('secret model weights')), false);
});

test('another key, truncation, reordering, bit flips and a wrong digest all fail', async () => {
  const key = randomBytes(32);
  const plaintext = randomBytes(4000);
  const { sealed, digest } = await encrypt(key, plaintext);
  const rejects = async (blob: Buffer, k = key, options = {}) =>
    assert.rejects(collect([blob], createDecryptStream(k, options)), BlobIntegrityError);
  await rejects(sealed, randomBytes(32));
  const frame = 1024 + 16;
  // Truncation exactly at a frame boundary: the new last frame was sealed as "not final".
  await rejects(sealed.subarray(0, HEADER_SIZE + 2 * frame));
  await rejects(sealed.subarray(0, sealed.length - 1));
  await rejects(sealed.subarray(0, 10));
  const swapped = Buffer.concat([sealed.subarray(0, HEADER_SIZE), sealed.subarray(HEADER_SIZE + frame, HEADER_SIZE + 2 * frame), sealed.subarray(HEADER_SIZE, HEADER_SIZE + frame), sealed.subarray(HEADER_SIZE + 2 * frame)]);
  await rejects(swapped);
  const flipped = Buffer.from(sealed);
  flipped[HEADER_SIZE + 5] = (flipped[HEADER_SIZE + 5] ?? 0) ^ 1;
  await rejects(flipped);
  await rejects(sealed, key, { expectedDigest: '0'.repeat(64) });
});

test('a wrapped data key unwraps only for its tenant and key-encryption key', () => {
  const kek = randomBytes(32);
  const dataKey = randomBytes(32);
  const wrapped = wrapDataKey(kek, 'tenant-a', dataKey);
  assert.ok(!wrapped.includes(dataKey.toString('base64')));
  assert.deepEqual(unwrapDataKey(kek, 'tenant-a', wrapped), dataKey);
  assert.throws(() => unwrapDataKey(kek, 'tenant-b', wrapped), BlobIntegrityError);
  assert.throws(() => unwrapDataKey(randomBytes(32), 'tenant-a', wrapped), BlobIntegrityError);
});
