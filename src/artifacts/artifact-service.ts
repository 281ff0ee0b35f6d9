import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { withSharedRead, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { clientBaseName, joinArtifactPath, normalizeArtifactPath } from '../contract/artifact-paths.ts';
import { createDecryptStream } from './blob-crypto.ts';
import type { StagedBlob, StorageUsage, TenantStorage } from './tenant-storage.ts';

export interface ArtifactFile {
  path: string;
  digest: string;
  size: number;
  createdAt: string;
}

export interface ArtifactEntry {
  /** The entry's name inside the listed directory (MLflow lists base names). */
  name: string;
  isDir: boolean;
  /** Undefined for directories. */
  size: number | undefined;
}

export interface MultipartCredential {
  partNumber: number;
  /** Path and query of the part upload, signed; the route makes it absolute. */
  pathAndQuery: string;
}

export const artifactErrors = {
  notFound: (path: string) => new AppError('NOT_FOUND', `artifact '${path}' not found`),
  uploadNotFound: () => new AppError('NOT_FOUND', 'multipart upload not found'),
  badSignature: () => new AppError('FORBIDDEN', 'part upload URL is invalid or expired'),
  badParts: (message: string) => new AppError('VALIDATION_FAILED', message),
};

export interface ArtifactService {
  /**
   * Stores `source` at `path` (replacing what was there), encrypted, quota-metered while streaming.
   * Nothing is visible until the whole body is durable on disk; the row and the audit event commit
   * together. Throws QUOTA_EXCEEDED (nothing stored, usage unchanged) or VALIDATION_FAILED (bad path).
   */
  putArtifact(ctx: RequestContext, tenantId: string, path: string, source: Readable, options?: { contentLength?: number | undefined }): Promise<ArtifactFile>;
  /** The file's metadata and a decrypted stream; NOT_FOUND for a missing path (or another tenant's). */
  openArtifact(tenantId: string, path: string): Promise<{ file: ArtifactFile; stream: Readable }>;
  findArtifact(tenantId: string, path: string): Promise<ArtifactFile | undefined>;
  /** Immediate children of a directory ('' = root). Empty for a file or a missing directory. */
  listArtifacts(tenantId: string, directory: string): Promise<ArtifactEntry[]>;
  /**
   * Issue 15: immediate children of a directory among the files of tenant `ownerId` that tenant `tenantId`
   * may read through a share (artifacts of runs in an experiment shared with it): the database's
   * shared_read policy on artifact_files decides, in a withSharedRead transaction. Empty when none.
   */
  listSharedArtifacts(tenantId: string, ownerId: string, directory: string): Promise<ArtifactEntry[]>;
  /**
   * Issue 15: one such shared file and its content, decrypted with the owner's data key (the caller never
   * sees a key or names a blob); NOT_FOUND for any file the database does not admit.
   */
  openSharedArtifact(tenantId: string, ownerId: string, path: string): Promise<{ file: ArtifactFile; stream: Readable }>;
  /** Every file under a prefix (recursive), for tooling and jobs. */
  listArtifactFiles(tenantId: string, prefix: string): Promise<ArtifactFile[]>;
  /** Deletes a file, or a directory recursively. NOT_FOUND when nothing matched. Returns files deleted. */
  deleteArtifacts(ctx: RequestContext, tenantId: string, path: string): Promise<number>;
  usage(tenantId: string): Promise<StorageUsage>;

  createMultipartUpload(ctx: RequestContext, tenantId: string, directory: string, clientPath: string, numParts: number): Promise<{ uploadId: string; path: string; credentials: MultipartCredential[] }>;
  /** Streams one part (signed URL already verified by `verifyPartSignature`). Returns its ETag. */
  uploadPart(tenantId: string, uploadId: string, partNumber: number, source: Readable, contentLength?: number): Promise<string>;
  completeMultipartUpload(ctx: RequestContext, tenantId: string, uploadId: string, path: string, parts: ReadonlyArray<{ partNumber: number; etag: string }>): Promise<ArtifactFile>;
  abortMultipartUpload(ctx: RequestContext, tenantId: string, uploadId: string, path: string): Promise<void>;
  /** Checks a part-upload signature; returns the tenant id it was issued for. */
  verifyPartSignature(tenantId: string, uploadId: string, partNumber: number, expires: number, signature: string): void;
}

interface FileRow {
  path: string;
  digest: string;
  size: number | string;
  created_at: Date | string;
}

const toFile = (row: FileRow): ArtifactFile => ({
  path: row.path,
  digest: row.digest,
  size: Number(row.size),
  createdAt: new Date(row.created_at).toISOString(),
});

/** LIKE pattern for "starts with `prefix/`", with LIKE's wildcards escaped. */
const childrenPattern = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;

const MULTIPART_TTL_SECONDS = 24 * 3600;

export const createArtifactService = (deps: { db: Db; storage: TenantStorage; signingKey: Buffer }): ArtifactService => {
  const { db, storage, signingKey } = deps;

  const sign = (tenantId: string, uploadId: string, part: number, expires: number): string =>
    createHmac('sha256', signingKey).update(`mpu:${tenantId}:${uploadId}:${part}:${expires}`).digest('base64url');

  /** Points `path` at a committed blob, dropping the reference the path held before. */
  const bindPath = async (tx: Queryable, tenantId: string, path: string, blob: StagedBlob): Promise<FileRow> => {
    const { rows: previous } = await tx.query<{ digest: string }>('SELECT digest FROM artifact_files WHERE tenant_id = $1 AND path = $2 FOR UPDATE', [tenantId, path]);
    const { rows } = await tx.query<FileRow>(
      `INSERT INTO artifact_files (tenant_id, path, digest, size) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant_id, path) DO UPDATE SET digest = EXCLUDED.digest, size = EXCLUDED.size, created_at = now()
       RETURNING path, digest, size, created_at`,
      [tenantId, path, blob.digest, blob.size],
    );
    if (previous[0] !== undefined) await storage.dropBlobRef(tx, tenantId, previous[0].digest);
    return rows[0]!;
  };

  const gcSoon = (tenantId: string): void => {
    void storage.collectGarbage(tenantId).catch(() => {});
  };

  // Every statement on artifact_files names the tenant whose files it reads: the table also has a
  // shared_read policy (migration 0034), and policies are ORed, so without an explicit `tenant_id = $n`
  // the tenant predicate would no longer be an index condition (docs/sharing.md, "Performance").
  const fileIn = async (tx: Queryable, tenantId: string, path: string): Promise<ArtifactFile | undefined> => {
    const { rows } = await tx.query<FileRow>('SELECT path, digest, size, created_at FROM artifact_files WHERE tenant_id = $1 AND path = $2', [tenantId, path]);
    return rows[0] === undefined ? undefined : toFile(rows[0]);
  };

  /** Immediate children of `directory` among `tenantId`'s files that the transaction may see. */
  const childrenIn = async (tx: Queryable, tenantId: string, directory: string): Promise<ArtifactEntry[]> => {
    // Immediate children computed in SQL: one row per name, a directory when any descendant has a '/'.
    const rest = directory === '' ? 'path' : 'substr(path, $3)';
    const where = directory === '' ? 'true' : `path LIKE $2`;
    const params = directory === '' ? [tenantId] : [tenantId, childrenPattern(directory), directory.length + 2];
    const { rows } = await tx.query<{ name: string; is_dir: boolean; size: number | string | null }>(
      `SELECT split_part(${rest}, '/', 1) AS name,
              bool_or(strpos(${rest}, '/') > 0) AS is_dir,
              max(size) FILTER (WHERE strpos(${rest}, '/') = 0) AS size
         FROM artifact_files WHERE tenant_id = $1 AND ${where} GROUP BY 1 ORDER BY 1`,
      params,
    );
    return rows.map((row) => ({ name: row.name, isDir: row.is_dir, size: row.is_dir ? undefined : Number(row.size) }));
  };

  const findArtifact = async (tenantId: string, rawPath: string): Promise<ArtifactFile | undefined> => {
    const path = normalizeArtifactPath(rawPath);
    return withTenant(db, tenantId, (tx) => fileIn(tx, tenantId, path), { readOnly: true });
  };

  return {
    async putArtifact(ctx, tenantId, rawPath, source, options = {}) {
      const path = normalizeArtifactPath(rawPath);
      const session = await storage.beginUpload(tenantId, { expectedBytes: options.contentLength });
      try {
        const staged = await session.stage(source);
        const row = await withTenant(db, tenantId, async (tx) => {
          await session.commit(tx, [staged]);
          const bound = await bindPath(tx, tenantId, path, staged);
          await appendAuditEvent(tx, {
            tenantId, actor: ctx.actor, action: 'artifact.put', target: `artifact:${path}`, outcome: 'success', requestId: ctx.requestId,
            details: { size: staged.size, digest: staged.digest },
          });
          return bound;
        });
        return toFile(row);
      } finally {
        await session.finish();
        gcSoon(tenantId);
      }
    },

    async openArtifact(tenantId, rawPath) {
      const file = await findArtifact(tenantId, rawPath);
      if (file === undefined) throw artifactErrors.notFound(rawPath);
      return { file, stream: await storage.openBlob(tenantId, file.digest, file.size) };
    },

    findArtifact,

    async listArtifacts(tenantId, rawDirectory) {
      const directory = normalizeArtifactPath(rawDirectory, { allowRoot: true });
      return withTenant(db, tenantId, (tx) => childrenIn(tx, tenantId, directory), { readOnly: true });
    },

    async listSharedArtifacts(tenantId, ownerId, rawDirectory) {
      const directory = normalizeArtifactPath(rawDirectory, { allowRoot: true });
      return withSharedRead(db, tenantId, ownerId, (tx) => childrenIn(tx, ownerId, directory));
    },

    async openSharedArtifact(tenantId, ownerId, rawPath) {
      const path = normalizeArtifactPath(rawPath);
      const file = await withSharedRead(db, tenantId, ownerId, (tx) => fileIn(tx, ownerId, path));
      if (file === undefined) throw artifactErrors.notFound(rawPath);
      // The owner's blob, decrypted with the owner's key, and only the one whose row the database admitted:
      // the digest comes from that row, never from the caller.
      return { file, stream: await storage.openBlob(ownerId, file.digest, file.size) };
    },

    async listArtifactFiles(tenantId, rawPrefix) {
      const prefix = normalizeArtifactPath(rawPrefix, { allowRoot: true });
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<FileRow>(
          prefix === ''
            ? 'SELECT path, digest, size, created_at FROM artifact_files WHERE tenant_id = $1 ORDER BY path'
            : 'SELECT path, digest, size, created_at FROM artifact_files WHERE tenant_id = $1 AND (path = $2 OR path LIKE $3) ORDER BY path',
          prefix === '' ? [tenantId] : [tenantId, prefix, childrenPattern(prefix)],
        );
        return rows.map(toFile);
      }, { readOnly: true });
    },

    async deleteArtifacts(ctx, tenantId, rawPath) {
      const path = normalizeArtifactPath(rawPath);
      const count = await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ path: string; digest: string }>(
          'DELETE FROM artifact_files WHERE tenant_id = $1 AND (path = $2 OR path LIKE $3) RETURNING path, digest',
          [tenantId, path, childrenPattern(path)],
        );
        if (rows.length === 0) throw artifactErrors.notFound(rawPath);
        for (const row of rows) await storage.dropBlobRef(tx, tenantId, row.digest);
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'artifact.delete', target: `artifact:${path}`, outcome: 'success', requestId: ctx.requestId,
          details: { files: rows.length },
        });
        return rows.length;
      });
      gcSoon(tenantId);
      return count;
    },

    usage: (tenantId) => storage.usage(tenantId),

    async createMultipartUpload(ctx, tenantId, rawDirectory, clientPath, numParts) {
      const directory = normalizeArtifactPath(rawDirectory, { allowRoot: true });
      const path = normalizeArtifactPath(joinArtifactPath(directory, clientBaseName(clientPath)));
      if (!Number.isInteger(numParts) || numParts < 1 || numParts > 10_000) throw artifactErrors.badParts('num_parts must be between 1 and 10000');
      const uploadId = randomUUID();
      await withTenant(db, tenantId, async (tx) => {
        await tx.query(
          `INSERT INTO multipart_uploads (id, tenant_id, path, num_parts, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
          [uploadId, tenantId, path, numParts, MULTIPART_TTL_SECONDS],
        );
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'artifact.multipart.create', target: `artifact:${path}`, outcome: 'success', requestId: ctx.requestId,
          details: { uploadId, numParts },
        });
      });
      const expires = Math.floor(Date.now() / 1000) + MULTIPART_TTL_SECONDS;
      const credentials = Array.from({ length: numParts }, (_, i) => {
        const part = i + 1;
        return {
          partNumber: part,
          pathAndQuery: `/api/2.0/mlflow-artifacts/mpu/upload/${tenantId}/${uploadId}/${part}?expires=${expires}&signature=${sign(tenantId, uploadId, part, expires)}`,
        };
      });
      return { uploadId, path, credentials };
    },

    verifyPartSignature(tenantId, uploadId, partNumber, expires, signature) {
      const wanted = Buffer.from(sign(tenantId, uploadId, partNumber, expires));
      const given = Buffer.from(signature);
      if (expires < Date.now() / 1000 || wanted.length !== given.length || !timingSafeEqual(wanted, given)) throw artifactErrors.badSignature();
    },

    async uploadPart(tenantId, uploadId, partNumber, source, contentLength) {
      const upload = await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ num_parts: number }>('SELECT num_parts FROM multipart_uploads WHERE id = $1 AND expires_at > now()', [uploadId]);
        return rows[0];
      }, { readOnly: true });
      if (upload === undefined) throw artifactErrors.uploadNotFound();
      if (partNumber < 1 || partNumber > upload.num_parts) throw artifactErrors.badParts(`part_number must be between 1 and ${upload.num_parts}`);
      // A part's reservation id is derived from (upload, part), so re-sending a part replaces its bytes.
      const reservationId = partReservationId(uploadId, partNumber);
      const session = await storage.beginUpload(tenantId, { expectedBytes: contentLength, reservationId, ttlSeconds: MULTIPART_TTL_SECONDS });
      try {
        const staged = await session.stage(source);
        await withTenant(db, tenantId, async (tx) => {
          const { rows } = await tx.query('SELECT 1 FROM multipart_uploads WHERE id = $1 FOR UPDATE', [uploadId]);
          if (rows.length === 0) throw artifactErrors.uploadNotFound();
          await storage.files.placeStaged(tenantId, staged.tempPath, uploadId, partNumber);
          await tx.query(
            `INSERT INTO multipart_parts (upload_id, tenant_id, part_number, size, etag, staged_file) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, staged_file = EXCLUDED.staged_file`,
            [uploadId, tenantId, partNumber, staged.size, staged.digest, `${uploadId}.${partNumber}`],
          );
          await storage.setReservation(tx, tenantId, reservationId, staged.size, MULTIPART_TTL_SECONDS);
        });
        session.adopt(staged);
        return staged.digest;
      } finally {
        await session.finish();
      }
    },

    async completeMultipartUpload(ctx, tenantId, uploadId, rawPath, parts) {
      const path = normalizeArtifactPath(rawPath);
      const { stored } = await withTenant(db, tenantId, async (tx) => {
        const { rows: uploads } = await tx.query<{ path: string; num_parts: number }>('SELECT path, num_parts FROM multipart_uploads WHERE id = $1', [uploadId]);
        const upload = uploads[0];
        if (upload === undefined || upload.path !== path) throw artifactErrors.uploadNotFound();
        const { rows } = await tx.query<{ part_number: number; size: number | string; etag: string; staged_file: string }>(
          'SELECT part_number, size, etag, staged_file FROM multipart_parts WHERE upload_id = $1 ORDER BY part_number', [uploadId],
        );
        return { stored: rows, upload };
      }, { readOnly: true });
      const byNumber = new Map(stored.map((row) => [Number(row.part_number), row]));
      const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
      if (ordered.length === 0) throw artifactErrors.badParts('parts must not be empty');
      for (const [i, part] of ordered.entries()) {
        const row = byNumber.get(part.partNumber);
        if (part.partNumber !== i + 1) throw artifactErrors.badParts('parts must be numbered 1..n without gaps');
        if (row === undefined || (part.etag !== '' && part.etag.replaceAll('"', '') !== row.etag)) throw artifactErrors.badParts(`part ${part.partNumber} was not uploaded or its etag does not match`);
      }
      // The parts' bytes are already reserved (one reservation per part); the assembled blob is staged
      // unmetered and the commit turns those reservations into usage.
      const session = await storage.beginUpload(tenantId, { metered: false });
      try {
        const staged = await session.stage(Readable.from(concatParts(storage, tenantId, uploadId, ordered.map((part) => {
          const row = byNumber.get(part.partNumber)!;
          return { part: part.partNumber, etag: row.etag, size: Number(row.size) };
        }))));
        const row = await withTenant(db, tenantId, async (tx) => {
          const { rows } = await tx.query('DELETE FROM multipart_uploads WHERE id = $1 RETURNING id', [uploadId]);
          if (rows.length === 0) throw artifactErrors.uploadNotFound();
          await session.commit(tx, [staged], { alsoRelease: stored.map((part) => partReservationId(uploadId, Number(part.part_number))) });
          const bound = await bindPath(tx, tenantId, path, staged);
          await appendAuditEvent(tx, {
            tenantId, actor: ctx.actor, action: 'artifact.put', target: `artifact:${path}`, outcome: 'success', requestId: ctx.requestId,
            details: { size: staged.size, digest: staged.digest, multipart: uploadId, parts: ordered.length },
          });
          return bound;
        });
        for (const part of stored) await storage.files.removeFile(storage.files.stagedPath(tenantId, uploadId, Number(part.part_number))).catch(() => {});
        return toFile(row);
      } finally {
        await session.finish();
      }
    },

    async abortMultipartUpload(ctx, tenantId, uploadId, rawPath) {
      const path = normalizeArtifactPath(rawPath);
      const staged = await withTenant(db, tenantId, async (tx) => {
        const { rows: parts } = await tx.query<{ part_number: number; staged_file: string }>('SELECT part_number, staged_file FROM multipart_parts WHERE upload_id = $1', [uploadId]);
        const { rows } = await tx.query('DELETE FROM multipart_uploads WHERE id = $1 AND path = $2 RETURNING id', [uploadId, path]);
        if (rows.length === 0) throw artifactErrors.uploadNotFound();
        await tx.query('DELETE FROM storage_reservations WHERE id = ANY($1::uuid[])', [parts.map((part) => partReservationId(uploadId, Number(part.part_number)))]);
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'artifact.multipart.abort', target: `artifact:${path}`, outcome: 'success', requestId: ctx.requestId,
          details: { uploadId },
        });
        return parts;
      });
      for (const part of staged) await storage.files.removeFile(storage.files.stagedPath(tenantId, uploadId, Number(part.part_number))).catch(() => {});
    },
  };
};

/** A stable uuid-shaped id for the reservation of one part, derived from (upload, part). */
const partReservationId = (uploadId: string, part: number): string => {
  const h = createHash('sha256').update(`part-reservation:${uploadId}:${part}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

async function* concatParts(storage: TenantStorage, tenantId: string, uploadId: string, parts: ReadonlyArray<{ part: number; etag: string; size: number }>): AsyncGenerator<Buffer> {
  const key = await storage.dataKey(tenantId);
  for (const part of parts) {
    const ciphertext = await storage.files.openStaged(tenantId, storage.files.stagedPath(tenantId, uploadId, part.part));
    if (ciphertext === undefined) throw new AppError('INTERNAL', 'a staged part is missing');
    const plaintext = ciphertext.pipe(createDecryptStream(key, { expectedDigest: part.etag, expectedSize: part.size }));
    ciphertext.on('error', (error) => plaintext.destroy(error));
    for await (const chunk of plaintext) yield chunk as Buffer;
  }
}
