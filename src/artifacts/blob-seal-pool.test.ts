import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEGACY_FRAME_SIZE, createDecryptStream, newBlobSealingKey } from './blob-crypto.ts';
import { createSealWorkerPool } from './blob-seal-pool.ts';
import { RING_BYTES } from './blob-seal-protocol.ts';

const opened = async (key: Buffer, sealed: Buffer, digest: string, size: number): Promise<Buffer> => {
  const out: Buffer[] = [];
  await pipeline(Readable.from([sealed]), createDecryptStream(key, { expectedDigest: digest, expectedSize: size }), async function* (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
};

const pieces = (data: Buffer, size: number): Buffer[] => {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
};

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'bulkhead-seal-pool-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

test('a worker seals blobs the existing reader opens: every size around frames and the ring, digest and size reported', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  const key = randomBytes(32);
  try {
    await withDir(async (dir) => {
      // 0 and 1 byte, around a (64 KiB) frame, and more than the ring in one chunk (the write must wait for space).
      const cases: Array<[number, number]> = [[0, 1], [1, 1], [LEGACY_FRAME_SIZE - 1, 333], [LEGACY_FRAME_SIZE, 65_536], [LEGACY_FRAME_SIZE + 1, 7_000], [RING_BYTES * 2 + 12_345, RING_BYTES * 2 + 12_345], [3 * 1024 * 1024 + 5, 64 * 1024]];
      for (const [size, piece] of cases) {
        const plaintext = randomBytes(size);
        const handle = await open(join(dir, `blob-${size}`), 'wx');
        const writer = pool.tryWriter(handle, newBlobSealingKey(key, LEGACY_FRAME_SIZE), { batchBytes: 1024 * 1024, syncEveryBytes: 4 * 1024 * 1024 });
        assert.ok(writer !== undefined);
        await pipeline(Readable.from(pieces(plaintext, piece)), writer);
        await handle.close();
        assert.equal(writer.size(), size);
        assert.equal(writer.digest(), createHash('sha256').update(plaintext).digest('hex'));
        const back = await opened(key, await readFile(join(dir, `blob-${size}`)), writer.digest(), size);
        assert.ok(back.equals(plaintext), `size ${size}`);
      }
    });
  } finally {
    await pool.close();
  }
});

test('a busy pool answers undefined (the caller seals inline); a finished job frees its worker', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  const key = randomBytes(32);
  try {
    await withDir(async (dir) => {
      const first = await open(join(dir, 'a'), 'wx');
      const second = await open(join(dir, 'b'), 'wx');
      const writer = pool.tryWriter(first, newBlobSealingKey(key));
      assert.ok(writer !== undefined);
      assert.equal(pool.tryWriter(second, newBlobSealingKey(key)), undefined);
      await pipeline(Readable.from([randomBytes(1000)]), writer);
      const next = pool.tryWriter(second, newBlobSealingKey(key));
      assert.ok(next !== undefined);
      await pipeline(Readable.from([randomBytes(10)]), next);
      await first.close();
      await second.close();
    });
  } finally {
    await pool.close();
  }
});

test('asynchronous batch writes land in order, and none lands after the worker answered an abort', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  const key = randomBytes(32);
  try {
    await withDir(async (dir) => {
      // Small batches: hundreds of writes in flight one after another while the next batch is sealed.
      const plaintext = randomBytes(5 * 1024 * 1024 + 4_321);
      const handle = await open(join(dir, 'ordered'), 'wx');
      const writer = pool.tryWriter(handle, newBlobSealingKey(key, LEGACY_FRAME_SIZE), { batchBytes: 16 * 1024 });
      assert.ok(writer !== undefined);
      await pipeline(Readable.from(pieces(plaintext, 7_000)), writer);
      await handle.close();
      assert.ok((await opened(key, await readFile(join(dir, 'ordered')), writer.digest(), plaintext.length)).equals(plaintext));

      // Abort mid-stream with writes in flight: once the stream has closed, the file no longer grows —
      // checked again after the same worker has run a whole next job (so any late write would have landed).
      const aborted = await open(join(dir, 'aborted'), 'wx');
      const victim = pool.tryWriter(aborted, newBlobSealingKey(key), { batchBytes: 16 * 1024 });
      assert.ok(victim !== undefined);
      const source = Readable.from(pieces(randomBytes(6 * 1024 * 1024), 64 * 1024));
      let sent = 0;
      source.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (sent >= 3 * 1024 * 1024) victim.destroy(new Error('client gone'));
      });
      await assert.rejects(pipeline(source, victim), /client gone/);
      const sizeAtClose = (await aborted.stat()).size;
      const next = await open(join(dir, 'next'), 'wx');
      const after = pool.tryWriter(next, newBlobSealingKey(key));
      assert.ok(after !== undefined, 'the worker answered the aborted job');
      await pipeline(Readable.from([randomBytes(2 * 1024 * 1024)]), after);
      await next.close();
      assert.equal((await aborted.stat()).size, sizeAtClose);
      await aborted.close();
    });
  } finally {
    await pool.close();
  }
});

test('a write error on the worker reaches the upload, and the worker is free again', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  const key = randomBytes(32);
  try {
    await withDir(async (dir) => {
      // A descriptor opened read-only: the worker's writev fails with EBADF.
      await open(join(dir, 'ro'), 'wx').then((handle) => handle.close());
      const readOnly = await open(join(dir, 'ro'), 'r');
      const writer = pool.tryWriter(readOnly, newBlobSealingKey(key));
      assert.ok(writer !== undefined);
      await assert.rejects(pipeline(Readable.from(pieces(randomBytes(6 * 1024 * 1024), 64 * 1024)), writer), { code: 'EBADF' });
      await readOnly.close();
      const handle = await open(join(dir, 'ok'), 'wx');
      const again = pool.tryWriter(handle, newBlobSealingKey(key));
      assert.ok(again !== undefined, 'the worker answered the failed job and takes the next');
      const plaintext = randomBytes(100_000);
      await pipeline(Readable.from([plaintext]), again);
      await handle.close();
      assert.ok((await opened(key, await readFile(join(dir, 'ok')), again.digest(), plaintext.length)).equals(plaintext));
    });
  } finally {
    await pool.close();
  }
});

test('a refused admit (quota) fails the upload; an abort stops the worker before the file is handed back', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  const key = randomBytes(32);
  try {
    await withDir(async (dir) => {
      const handle = await open(join(dir, 'quota'), 'wx');
      const writer = pool.tryWriter(handle, newBlobSealingKey(key), { admit: (total) => (total > 2 * 1024 * 1024 ? Promise.reject(new Error('quota')) : undefined) });
      assert.ok(writer !== undefined);
      await assert.rejects(pipeline(Readable.from(pieces(randomBytes(8 * 1024 * 1024), 64 * 1024)), writer), /quota/);
      // The stream has closed only after the worker answered: nothing writes to the file any more.
      const size = (await handle.stat()).size;
      assert.ok(size <= 2 * 1024 * 1024 + 64 * 1024 + 1024, `at most what was admitted was written (${size})`);
      await handle.close();

      // Abort from the outside mid-stream (a client that went away), with the ring full.
      const aborted = await open(join(dir, 'aborted'), 'wx');
      const second = pool.tryWriter(aborted, newBlobSealingKey(key));
      assert.ok(second !== undefined);
      second.write(randomBytes(RING_BYTES * 3));
      second.destroy(new Error('client went away'));
      await assert.rejects(finished(second), /client went away/);
      const frozen = (await aborted.stat()).size;
      await aborted.close();
      assert.equal((await stat(join(dir, 'aborted'))).size, frozen);
      const handleNext = await open(join(dir, 'next'), 'wx');
      const third = pool.tryWriter(handleNext, newBlobSealingKey(key));
      assert.ok(third !== undefined, 'the aborted job released its worker');
      const plaintext = randomBytes(5 * 1024 * 1024);
      await pipeline(Readable.from(pieces(plaintext, 100_000)), third);
      await handleNext.close();
      assert.ok((await opened(key, await readFile(join(dir, 'next')), third.digest(), plaintext.length)).equals(plaintext));
    });
  } finally {
    await pool.close();
  }
});

test('closing the pool fails a job in flight instead of hanging it', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  await withDir(async (dir) => {
    const handle = await open(join(dir, 'x'), 'wx');
    const writer = pool.tryWriter(handle, newBlobSealingKey(randomBytes(32)));
    assert.ok(writer !== undefined);
    writer.write(randomBytes(1024));
    const failed = once(writer, 'error');
    await pool.close();
    writer.end();
    const [error] = await failed;
    assert.match((error as Error).message, /seal worker ended|aborted/);
    await handle.close();
  });
});

test('a warmed pool serves the first upload from its idle worker, and that idle worker does not keep the process alive', async () => {
  const pool = createSealWorkerPool({ size: 1 });
  pool.warm();
  pool.warm();
  try {
    await withDir(async (dir) => {
      const plaintext = randomBytes(100_000);
      const handle = await open(join(dir, 'blob'), 'wx');
      const writer = pool.tryWriter(handle, newBlobSealingKey(randomBytes(32)));
      assert.ok(writer !== undefined);
      // warm() twice started one worker, not two: a size-1 pool is busy now.
      assert.equal(pool.tryWriter(handle, newBlobSealingKey(randomBytes(32))), undefined);
      await pipeline(Readable.from([plaintext]), writer);
      await handle.close();
      assert.equal(writer.digest(), createHash('sha256').update(plaintext).digest('hex'));
    });
  } finally {
    await pool.close();
  }
  // A process that only warms a pool exits by itself (the idle worker is unref'ed).
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createSealWorkerPool } from ${JSON.stringify(new URL('./blob-seal-pool.ts', import.meta.url).href)}; createSealWorkerPool({ size: 1 }).warm();`], { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
