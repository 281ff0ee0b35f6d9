/**
 * Encrypted, content-addressed, quota-metered blob storage per tenant — what artifacts and datasets are
 * built on.
 *
 * Writing: `beginUpload` opens a session that holds a storage reservation (a row in
 * storage_reservations, grown while bytes arrive: the quota is enforced WHILE streaming). `stage` streams
 * one source through the meter and the encryptor into a temp file in the tenant's root and fsyncs it.
 * The caller then runs its own `withTenant` transaction and calls `session.commit(tx, staged)` in it:
 * blob rows are referenced (row locks), the reservation becomes usage (re-checked against the quota),
 * and only then are temp files renamed into place by digest. The caller inserts its metadata rows and
 * audit event in the same transaction. `session.finish()` (always, in `finally`) drops what is left:
 * the reservation and any temp file that was not placed. A crash leaves at most temp files, a blob file
 * renamed into place by a transaction that never committed (`sweepOrphanFiles`), and reservations that
 * carry the dead process's instance id — all put right by start-up recovery (src/main/startup-recovery.ts)
 * — never a row pointing at a missing or partial blob.
 *
 * Deleting: `dropBlobRef` in the caller's transaction; a blob whose last reference goes is garbage
 * (refcount 0), its bytes leave the tenant's usage at once, and `collectGarbage` removes the file while
 * holding the row lock, so an upload of the same content waits for it and then re-places the file.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AppError } from '../core/errors.ts';
import type { Db, Queryable } from '../db/index.ts';
import { withTenant } from '../db/index.ts';
import { createDecryptStream, newBlobSealingKey, sealerFor, unwrapDataKey, wrapDataKey } from './blob-crypto.ts';
import type { BlobSealer } from './blob-crypto.ts';
import { createSealingWriter } from './blob-writer.ts';
import type { SealWorkerPool } from './blob-seal-pool.ts';
import type { BlobFiles } from './blob-files.ts';

/** A reservation not renewed for this long is ignored (its server probably died). */
export const RESERVATION_TTL_SECONDS = 15 * 60;
/** How far a reservation runs ahead of the bytes received: doubling from 256 KiB up to 64 MiB. */
const MIN_RESERVATION_STEP = 256 * 1024;
const MAX_RESERVATION_STEP = 64 * 1024 * 1024;
/** Uploads declared smaller than this are sealed inline: a worker hand-off would cost more than it saves. */
const WORKER_MIN_BYTES = 1024 * 1024;

export const storageErrors = {
  quotaExceeded: (used: number, quota: number, needed: number) =>
    new AppError('QUOTA_EXCEEDED', `storage quota exceeded: ${used} of ${quota} bytes in use or reserved; this upload needs ${needed} more`, {
      details: { usedBytes: used, quotaBytes: quota, neededBytes: needed },
    }),
  interrupted: () => new AppError('BAD_REQUEST', 'upload interrupted before the end of the body'),
  corrupt: () => new AppError('INTERNAL', 'stored blob failed its integrity check'),
};

export interface StagedBlob {
  digest: string;
  size: number;
  tempPath: string;
}

export interface UploadSession {
  readonly reservationId: string;
  /** Bytes staged so far in this session. */
  bytes(): number;
  /**
   * Streams `source` into an encrypted temp file, counting its bytes against the quota as they arrive.
   * Throws QUOTA_EXCEEDED the moment the session would exceed it (the temp file is deleted, the source
   * is unpiped but not destroyed, so the caller can still answer). Buffers never the whole blob: on a seal
   * worker, its 8 MiB ring plus two 4 MiB write batches (one being written, one being gathered); inline, a frame (1 MiB) plus two 4 MiB write batches
   * and the writer's 1 MiB highWaterMark.
   */
  stage(source: Readable): Promise<StagedBlob>;
  /**
   * In the caller's transaction: references the staged blobs, turns this session's reservation (and
   * `alsoRelease` reservations) into usage — refusing with QUOTA_EXCEEDED if it no longer fits — and
   * renames the temp files into place. Returns the bytes newly added to usage (0 for known content).
   */
  commit(tx: Queryable, staged: readonly StagedBlob[], options?: { alsoRelease?: readonly string[] }): Promise<number>;
  /**
   * For callers that keep staged bytes outside the blob namespace (multipart parts): the temp file is
   * theirs now, and the reservation stays (they must `setReservation` it in their transaction).
   */
  adopt(staged: StagedBlob): void;
  /** Drops the reservation (unless adopted) and every staged temp file not placed. Call it in `finally`. */
  finish(): Promise<void>;
}

export interface StorageUsage {
  used: number;
  reserved: number;
  quota: number;
}

export interface TenantStorage {
  readonly files: BlobFiles;
  /**
   * Opens an upload session. `expectedBytes` (a Content-Length) is reserved up front, so an upload that
   * cannot fit is refused before its body is read. `metered: false` skips counting while staging (for
   * bytes already reserved elsewhere, e.g. multipart parts); commit still checks the quota.
   */
  beginUpload(tenantId: string, options?: { expectedBytes?: number | undefined; metered?: boolean; reservationId?: string; ttlSeconds?: number }): Promise<UploadSession>;
  /** A decrypted, integrity-checked stream of a blob; NOT_FOUND-free: throws INTERNAL if the file is gone. */
  openBlob(tenantId: string, digest: string, size: number): Promise<Readable>;
  /** In the caller's transaction: drops one reference; returns the bytes released from usage. */
  dropBlobRef(tx: Queryable, tenantId: string, digest: string): Promise<number>;
  /** Removes unreferenced blobs (rows and files). Safe to run any time, concurrently with uploads. */
  collectGarbage(tenantId: string): Promise<number>;
  usage(tenantId: string): Promise<StorageUsage>;
  /** The tenant's data key (unwrapped, cached); created on first use. For tests and key tooling. */
  dataKey(tenantId: string): Promise<Buffer>;
  /**
   * Drops (and zeroes) the cached unwrapped data key of a deleted tenant, so crypto-shredding holds in
   * this process's memory too, not only in the database.
   */
  forgetTenant(tenantId: string): void;
  /**
   * Deletes the tenant's blob files that no committed `blobs` row names (a blob renamed into place by a
   * transaction that never committed: the process died in between). Safe beside live uploads: each orphan is
   * claimed by a row lock first. Returns the files and ciphertext bytes removed.
   */
  sweepOrphanFiles(tenantId: string): Promise<{ files: number; bytes: number }>;
  /** Shrinks or extends an existing reservation to exactly `bytes` with a new expiry (multipart parts). */
  setReservation(tx: Queryable, tenantId: string, reservationId: string, bytes: number, ttlSeconds: number): Promise<void>;
}

interface UsageRow {
  used_bytes: number | string;
}

const ensureUsageRow = async (tx: Queryable, tenantId: string): Promise<void> => {
  await tx.query('INSERT INTO storage_usage (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING', [tenantId]);
};

/** Locks the tenant's usage row (the serialization point of its quota decisions) and reads the totals. */
const lockedTotals = async (tx: Queryable, tenantId: string, excludeReservations: readonly string[]): Promise<{ used: number; others: number; quota: number }> => {
  await ensureUsageRow(tx, tenantId);
  const { rows } = await tx.query<UsageRow>('SELECT used_bytes FROM storage_usage FOR UPDATE');
  // A separate statement after the lock: under READ COMMITTED it sees every reservation committed by
  // whoever held the lock before us.
  const { rows: totals } = await tx.query<{ others: number | string; quota: number | string }>(
    `SELECT (SELECT coalesce(sum(bytes), 0) FROM storage_reservations WHERE expires_at > now() AND NOT (id = ANY($1::uuid[]))) AS others,
            (SELECT storage_bytes FROM tenant_quotas) AS quota`,
    [excludeReservations],
  );
  return { used: Number(rows[0]?.used_bytes ?? 0), others: Number(totals[0]?.others ?? 0), quota: Number(totals[0]?.quota ?? 0) };
};

export const createTenantStorage = (deps: {
  db: Db;
  files: BlobFiles;
  keyEncryptionKey: Buffer;
  /**
   * This process's run of the platform: upload reservations carry it (`storage_reservations.instance_id`),
   * so start-up recovery can release the reservations of a process that died. Undefined: not recorded.
   */
  instanceId?: string | undefined;
  /** Prefix of this process's upload temp files (`<prefix>.<uuid>`), so a sweep can tell whose they are. */
  tempPrefix?: string | undefined;
  /**
   * Seal workers (blob-seal-pool.ts): when given, uploads of unknown or at least 1 MiB declared size are
   * hashed, encrypted and written on a worker thread while one is free; otherwise on the event loop.
   */
  sealPool?: SealWorkerPool | undefined;
}): TenantStorage => {
  const { db, files, keyEncryptionKey } = deps;
  const keys = new Map<string, Buffer>();

  const dataKey = async (tenantId: string): Promise<Buffer> => {
    const cached = keys.get(tenantId);
    if (cached !== undefined) return cached;
    const wrapped = await withTenant(db, tenantId, async (tx) => {
      // Racing creators: ON CONFLICT DO NOTHING waits for the winner; the SELECT then reads its key.
      await tx.query('INSERT INTO tenant_data_keys (tenant_id, wrapped_key) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING', [
        tenantId, wrapDataKey(keyEncryptionKey, tenantId, randomBytes(32)),
      ]);
      const { rows } = await tx.query<{ wrapped_key: string }>('SELECT wrapped_key FROM tenant_data_keys');
      return rows[0]?.wrapped_key;
    });
    if (wrapped === undefined) throw new AppError('INTERNAL', 'tenant data key missing');
    const key = unwrapDataKey(keyEncryptionKey, tenantId, wrapped);
    keys.set(tenantId, key);
    return key;
  };

  /**
   * Sets this reservation to `need` bytes plus a head start of up to `step`, but never more than a quarter
   * of what is still free after `need` — so one upload cannot starve concurrent ones near the quota.
   * Refuses with QUOTA_EXCEEDED when `need` itself does not fit.
   */
  const reserve = async (tenantId: string, reservationId: string, need: number, step: number, ttlSeconds: number): Promise<number> =>
    withTenant(db, tenantId, async (tx) => {
      const { used, others, quota } = await lockedTotals(tx, tenantId, [reservationId]);
      const available = Math.max(0, quota - used - others);
      if (need > available) throw storageErrors.quotaExceeded(used + others, quota, need);
      const granted = need + Math.min(step, Math.floor((available - need) / 4));
      await tx.query(
        `INSERT INTO storage_reservations (id, tenant_id, bytes, expires_at, instance_id) VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)
         ON CONFLICT (id) DO UPDATE SET bytes = EXCLUDED.bytes, expires_at = EXCLUDED.expires_at, instance_id = EXCLUDED.instance_id`,
        [reservationId, tenantId, granted, ttlSeconds, deps.instanceId ?? null],
      );
      return granted;
    });

  const release = async (tenantId: string, reservationId: string): Promise<void> => {
    await withTenant(db, tenantId, (tx) => tx.query('DELETE FROM storage_reservations WHERE id = $1', [reservationId]));
  };

  const addBlobRef = async (tx: Queryable, tenantId: string, digest: string, size: number): Promise<number> => {
    const { rows } = await tx.query<{ refcount: number }>(
      `INSERT INTO blobs (tenant_id, digest, size, refcount) VALUES ($1, $2, $3, 1)
       ON CONFLICT (tenant_id, digest) DO UPDATE SET refcount = blobs.refcount + 1 RETURNING refcount`,
      [tenantId, digest, size],
    );
    // 1 means new content (or garbage revived before collection): its bytes count again.
    return Number(rows[0]?.refcount) === 1 ? size : 0;
  };

  /**
   * Deletes the files of those `digests` that no committed `blobs` row names; returns the digests removed.
   * Each candidate is claimed with a placeholder row (refcount 0) first: the insert waits for a transaction
   * that is inserting the same row right now (an upload that renamed its file into place and has not
   * committed yet). If that one commits, the file is referenced: kept. If there is none, or it rolled back,
   * the row lock is ours: the file goes, then the placeholder.
   */
  const removeUnreferenced = async (tenantId: string, digests: readonly string[]): Promise<string[]> => {
    if (digests.length === 0) return [];
    const known = await withTenant(db, tenantId, async (tx) => {
      const { rows } = await tx.query<{ digest: string }>('SELECT digest FROM blobs WHERE digest = ANY($1::text[])', [digests]);
      return new Set(rows.map((row) => row.digest));
    }, { readOnly: true });
    const removed: string[] = [];
    for (const digest of digests) {
      if (known.has(digest)) continue;
      const gone = await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query('INSERT INTO blobs (tenant_id, digest, size, refcount) VALUES ($1, $2, 0, 0) ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING digest', [tenantId, digest]);
        if (rows.length === 0) return false;
        await files.removeBlob(tenantId, digest);
        await tx.query('DELETE FROM blobs WHERE digest = $1 AND refcount = 0', [digest]);
        return true;
      });
      if (gone) removed.push(digest);
    }
    return removed;
  };

  const storage: TenantStorage = {
    files,
    dataKey,
    forgetTenant(tenantId) {
      keys.get(tenantId)?.fill(0);
      keys.delete(tenantId);
    },

    async beginUpload(tenantId, options = {}) {
      const key = await dataKey(tenantId);
      const reservationId = options.reservationId ?? randomUUID();
      const ttl = options.ttlSeconds ?? RESERVATION_TTL_SECONDS;
      const metered = options.metered !== false;
      let granted = 0;
      let total = 0;
      let reserved = false;
      let adopted = false;
      const temps = new Set<string>();
      // Digests this session renamed into place inside the caller's transaction, not yet known to be committed.
      const placed = new Set<string>();
      if (metered && options.expectedBytes !== undefined) {
        granted = await reserve(tenantId, reservationId, options.expectedBytes, 0, ttl);
        reserved = true;
      }

      const grow = async (needed: number): Promise<void> => {
        granted = await reserve(tenantId, reservationId, needed, Math.min(Math.max(granted, MIN_RESERVATION_STEP), MAX_RESERVATION_STEP), ttl);
        reserved = true;
      };

      return {
        reservationId,
        bytes: () => total,
        async stage(source) {
          const temp = await files.createTemp(tenantId, 'tmp', deps.tempPrefix === undefined ? undefined : `${deps.tempPrefix}.${randomUUID()}`);
          temps.add(temp.path);
          const prepared = newBlobSealingKey(key);
          let staged = 0;
          const admit = metered ? (received: number) => {
            total += received - staged;
            staged = received;
            return total <= granted ? undefined : grow(total);
          } : (received: number) => {
            total += received - staged;
            staged = received;
            return undefined;
          };
          // Same format either way: on a seal worker (hash + encrypt + writes off the event loop), or in one
          // stream stage here (blob-writer.ts) for small uploads and when every worker is busy.
          const offloaded = options.expectedBytes === undefined || options.expectedBytes >= WORKER_MIN_BYTES
            ? deps.sealPool?.tryWriter(temp.handle, prepared, { admit })
            : undefined;
          let sealer: BlobSealer | undefined;
          const sink = offloaded ?? createSealingWriter(temp.handle, sealer = sealerFor(prepared), { admit });
          prepared.fileKey.fill(0);
          // pipe(), not pipeline(): an error below must not destroy the request stream, or the caller
          // could not answer with the quota error.
          const onSourceError = (error: Error) => sink.destroy(error);
          const onSourceClose = () => {
            if (!source.readableEnded) sink.destroy(storageErrors.interrupted());
          };
          source.once('error', onSourceError);
          source.once('close', onSourceClose);
          source.pipe(sink);
          try {
            await finished(sink);
            await temp.handle.sync();
          } catch (error) {
            source.unpipe(sink);
            throw error;
          } finally {
            source.off('error', onSourceError);
            source.off('close', onSourceClose);
            await temp.handle.close().catch(() => {});
          }
          const sealed = offloaded ?? sealer!;
          return { digest: sealed.digest(), size: sealed.size(), tempPath: temp.path };
        },
        async commit(tx, staged, commitOptions = {}) {
          const release = [reservationId, ...(commitOptions.alsoRelease ?? [])];
          const { used, others, quota } = await lockedTotals(tx, tenantId, release);
          await tx.query('DELETE FROM storage_reservations WHERE id = ANY($1::uuid[])', [release]);
          let added = 0;
          // Sorted digests: two sessions locking the same blob rows always lock them in the same order.
          for (const blob of [...staged].sort((a, b) => a.digest.localeCompare(b.digest))) added += await addBlobRef(tx, tenantId, blob.digest, blob.size);
          if (added > 0 && used + others + added > quota) throw storageErrors.quotaExceeded(used + others, quota, added);
          if (added !== 0) await tx.query('UPDATE storage_usage SET used_bytes = used_bytes + $1, updated_at = now()', [added]);
          // The blob rows are locked by this transaction: garbage collection of the same digest waits.
          for (const blob of staged) {
            if (!temps.has(blob.tempPath)) continue;
            await files.place(tenantId, blob.tempPath, blob.digest);
            temps.delete(blob.tempPath);
            placed.add(blob.digest);
          }
          return added;
        },
        adopt(staged) {
          temps.delete(staged.tempPath);
          adopted = true;
        },
        async finish() {
          for (const path of temps) await files.removeFile(path).catch(() => {});
          temps.clear();
          // The caller's transaction may have rolled back after the rename (a later statement failed): a
          // placed file whose row did not commit is removed now rather than left for the next start-up.
          if (placed.size > 0) {
            const digests = [...placed];
            placed.clear();
            await removeUnreferenced(tenantId, digests).catch(() => {});
          }
          if (!adopted && (reserved || metered)) await release(tenantId, reservationId).catch(() => {});
        },
      };
    },

    async openBlob(tenantId, digest, size) {
      const key = await dataKey(tenantId);
      const ciphertext = await files.openBlob(tenantId, digest);
      if (ciphertext === undefined) throw storageErrors.corrupt();
      const plaintext = createDecryptStream(key, { expectedDigest: digest, expectedSize: size });
      pipeline(ciphertext, plaintext, () => {});
      return plaintext;
    },

    async dropBlobRef(tx, tenantId, digest) {
      const { rows } = await tx.query<{ refcount: number; size: number | string }>(
        'UPDATE blobs SET refcount = refcount - 1 WHERE digest = $1 AND refcount > 0 RETURNING refcount, size',
        [digest],
      );
      const row = rows[0];
      if (row === undefined || Number(row.refcount) !== 0) return 0;
      const freed = Number(row.size);
      await ensureUsageRow(tx, tenantId);
      await tx.query('UPDATE storage_usage SET used_bytes = greatest(used_bytes - $1, 0), updated_at = now()', [freed]);
      return freed;
    },

    async collectGarbage(tenantId) {
      let removed = 0;
      for (;;) {
        const batch = await withTenant(db, tenantId, async (tx) => {
          const { rows } = await tx.query<{ digest: string }>('SELECT digest FROM blobs WHERE refcount = 0 LIMIT 100 FOR UPDATE SKIP LOCKED');
          // Unlink while holding the row locks: an upload of the same content waits on the row, then
          // inserts a fresh one and places its own file.
          for (const row of rows) await files.removeBlob(tenantId, row.digest);
          if (rows.length > 0) await tx.query('DELETE FROM blobs WHERE refcount = 0 AND digest = ANY($1::text[])', [rows.map((row) => row.digest)]);
          return rows.length;
        });
        removed += batch;
        if (batch < 100) return removed;
      }
    },

    async sweepOrphanFiles(tenantId) {
      let removed = 0;
      let bytes = 0;
      const onDisk = await files.listBlobs(tenantId);
      for (let i = 0; i < onDisk.length; i += 500) {
        const chunk = onDisk.slice(i, i + 500);
        const gone = new Set(await removeUnreferenced(tenantId, chunk.map((file) => file.digest)));
        for (const file of chunk) {
          if (!gone.has(file.digest)) continue;
          removed += 1;
          bytes += file.size;
        }
      }
      return { files: removed, bytes };
    },

    async usage(tenantId) {
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ used: number | string | null; reserved: number | string; quota: number | string | null }>(
          `SELECT (SELECT used_bytes FROM storage_usage) AS used,
                  (SELECT coalesce(sum(bytes), 0) FROM storage_reservations WHERE expires_at > now()) AS reserved,
                  (SELECT storage_bytes FROM tenant_quotas) AS quota`,
        );
        const row = rows[0];
        return { used: Number(row?.used ?? 0), reserved: Number(row?.reserved ?? 0), quota: Number(row?.quota ?? 0) };
      }, { readOnly: true });
    },

    async setReservation(tx, tenantId, reservationId, bytes, ttlSeconds) {
      // No instance: the reservation now belongs to the stored bytes (a multipart part), not to the process
      // that received them, and outlives it until its upload completes or expires.
      await tx.query(
        `INSERT INTO storage_reservations (id, tenant_id, bytes, expires_at, instance_id) VALUES ($1, $2, $3, now() + make_interval(secs => $4), NULL)
         ON CONFLICT (id) DO UPDATE SET bytes = EXCLUDED.bytes, expires_at = EXCLUDED.expires_at, instance_id = NULL`,
        [reservationId, tenantId, bytes, ttlSeconds],
      );
    },
  };
  return storage;
};
