import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobIntegrityError, FRAME_SIZE, HEADER_SIZE, LEGACY_FRAME_SIZE, createBlobSealer, createDecryptStream, createEncryptStream, unwrapDataKey, wrapDataKey } from './blob-crypto.ts';
import { createSealingWriter } from './blob-writer.ts';

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

test('blobs with the former 64 KiB frames and the current 1 MiB frames both decrypt; the header carries the size', async () => {
  const key = randomBytes(32);
  const plaintext = randomBytes(3 * 1024 * 1024 + 12345);
  for (const frameSize of [LEGACY_FRAME_SIZE, FRAME_SIZE]) {
    const stream = createEncryptStream(key, frameSize);
    const sealed = await collect([plaintext.subarray(0, 70_000), plaintext.subarray(70_000)], stream);
    assert.equal(sealed.readUInt32BE(4), frameSize);
    const frames = Math.floor(plaintext.length / frameSize) + 1;
    assert.equal(sealed.length, HEADER_SIZE + plaintext.length + 16 * frames);
    const opened = await collect([sealed], createDecryptStream(key, { expectedDigest: stream.digest(), expectedSize: plaintext.length }));
    assert.ok(opened.equals(plaintext));
  }
});

test('the sealing writer (one stage: hash + encrypt + batched writev) writes a blob that decrypts; quota admission can refuse', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bulkhead-sealing-'));
  try {
    const key = randomBytes(32);
    const plaintext = randomBytes(9 * 1024 * 1024 + 7);
    const pieces: Buffer[] = [];
    for (let i = 0; i < plaintext.length; i += 65_536) pieces.push(plaintext.subarray(i, i + 65_536));
    const handle = await open(join(dir, 'blob'), 'wx');
    const sealer = createBlobSealer(key);
    const admitted: number[] = [];
    await pipeline(Readable.from(pieces), createSealingWriter(handle, sealer, { batchBytes: 1024 * 1024, syncEveryBytes: 2 * 1024 * 1024, admit: (total) => (total > 4 * 1024 * 1024 && admitted.length === 0 ? (admitted.push(total), Promise.resolve()) : undefined) }));
    await handle.close();
    assert.equal(sealer.size(), plaintext.length);
    assert.equal(admitted.length, 1);
    const opened = await collect([await readFile(join(dir, 'blob'))], createDecryptStream(key, { expectedDigest: sealer.digest(), expectedSize: plaintext.length }));
    assert.ok(opened.equals(plaintext));
    const refused = await open(join(dir, 'refused'), 'wx');
    await assert.rejects(pipeline(Readable.from(pieces), createSealingWriter(refused, createBlobSealer(key), { admit: (total) => (total > 1024 * 1024 ? Promise.reject(new Error('quota')) : undefined) })), /quota/);
    await refused.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
