import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser } from 'tar';
import type { ReadEntry } from 'tar';
import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db, Queryable } from '../db/index.ts';
import { withSharedRead, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { auditSharedRead, otherTenantIdBySlug, recordSharedUse } from '../sharing/index.ts';
import { normalizeArtifactPath } from '../contract/artifact-paths.ts';
import type { StagedBlob, TenantStorage } from '../artifacts/index.ts';
import { DATASET_NAME_PATTERN, datasetDigest } from './dataset-digest.ts';

export interface Dataset {
  id: string;
  name: string;
  description: string;
  createdAt: string;
  latestVersion: number | null;
}

export interface DatasetVersion {
  dataset: string;
  version: number;
  digest: string;
  fileCount: number;
  totalBytes: number;
  createdBy: string;
  createdAt: string;
}

export interface DatasetFile {
  path: string;
  digest: string;
  size: number;
}

export const datasetErrors = {
  notFound: (name: string) => new AppError('NOT_FOUND', `dataset '${name}' not found`),
  versionNotFound: (name: string, version: number | string) => new AppError('NOT_FOUND', `dataset '${name}' has no version ${version}`),
  fileNotFound: (path: string) => new AppError('NOT_FOUND', `file '${path}' not found in this dataset version`),
  badName: (name: string) => new AppError('VALIDATION_FAILED', `invalid dataset name '${name.slice(0, 64)}': 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit`),
  exists: (name: string) => new AppError('CONFLICT', `dataset '${name}' already exists`),
  badTar: (message: string) => new AppError('VALIDATION_FAILED', `invalid dataset archive: ${message}`),
  empty: () => new AppError('VALIDATION_FAILED', 'a dataset version needs at least one file'),
};

export interface DatasetService {
  createDataset(ctx: RequestContext, tenantId: string, name: string, description?: string): Promise<Dataset>;
  listDatasets(tenantId: string): Promise<Dataset[]>;
  getDataset(tenantId: string, name: string): Promise<Dataset>;
  /**
   * Creates the next version of `name` (creating the dataset on first push) from a tar stream: regular
   * files and directories only (links, devices and duplicate paths are refused), paths validated like
   * artifact paths. Streamed: each file is encrypted into the tenant's blob store as it arrives, metered
   * against the storage quota. The version, its files and the audit event commit in one transaction;
   * a failure leaves no version, no file and no usage change.
   */
  pushVersionFromTar(ctx: RequestContext, tenantId: string, name: string, tarStream: Readable, options?: { contentLength?: number | undefined }): Promise<DatasetVersion>;
  /** The same from (path, stream) pairs, consumed one at a time. */
  pushVersion(ctx: RequestContext, tenantId: string, name: string, files: AsyncIterable<{ path: string; stream: Readable }>, options?: { contentLength?: number | undefined }): Promise<DatasetVersion>;
  listVersions(tenantId: string, name: string): Promise<DatasetVersion[]>;
  /** `version` 'latest' or a number. */
  /**
   * A version with its files. `{owner}/{name}` (issue 15): a version another tenant shared with this one
   * — read under the database's shared_read policies, audited in both tenants (as `ctx`'s actor); every
   * other object answers NOT_FOUND like a missing version.
   */
  getVersion(tenantId: string, name: string, version: number | 'latest', ctx?: RequestContext): Promise<DatasetVersion & { files: DatasetFile[] }>;
  openVersionFile(tenantId: string, name: string, version: number, path: string, ctx?: RequestContext): Promise<{ file: DatasetFile; stream: Readable }>;
  /**
   * Decrypts every file of a version into `targetDir` (for jobs: a job-private directory). Files are
   * created exclusively (an existing file or a planted symlink fails the call) with mode 0444, and each
   * is verified against its digest. Returns the version materialized.
   */
  materializeDatasetVersion(tenantId: string, name: string, version: number | 'latest', targetDir: string): Promise<DatasetVersion>;
}

interface DatasetRow {
  id: string;
  name: string;
  description: string;
  created_at: Date | string;
  latest_version: number | null;
}

interface VersionRow {
  name: string;
  version: number;
  digest: string;
  file_count: number;
  total_bytes: number | string;
  created_by: string;
  created_at: Date | string;
}

const toDataset = (row: DatasetRow): Dataset => ({
  id: row.id, name: row.name, description: row.description, createdAt: new Date(row.created_at).toISOString(),
  latestVersion: row.latest_version === null ? null : Number(row.latest_version),
});

const toVersion = (row: VersionRow): DatasetVersion => ({
  dataset: row.name, version: Number(row.version), digest: row.digest, fileCount: Number(row.file_count),
  totalBytes: Number(row.total_bytes), createdBy: row.created_by, createdAt: new Date(row.created_at).toISOString(),
});

const datasetColumns = `d.id, d.name, d.description, d.created_at, (SELECT max(version) FROM dataset_versions v WHERE v.dataset_id = d.id) AS latest_version`;
const versionColumns = 'd.name, v.version, v.digest, v.file_count, v.total_bytes, v.created_by, v.created_at';

const checkName = (name: string): void => {
  if (!DATASET_NAME_PATTERN.test(name)) throw datasetErrors.badName(name);
};

/** Turns a tar stream into (path, stream) pairs, one at a time, with the tar parser's backpressure. */
async function* tarFiles(source: Readable): AsyncGenerator<{ path: string; stream: Readable }> {
  const parser = new Parser({ strict: true });
  const queue: ReadEntry[] = [];
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  parser.on('entry', (entry: ReadEntry) => {
    queue.push(entry);
    notify();
  });
  parser.on('error', (error: Error) => {
    failure = datasetErrors.badTar(error.message);
    notify();
  });
  parser.on('end', () => {
    finished = true;
    notify();
  });
  const onSourceError = (error: Error) => {
    failure = error;
    notify();
  };
  source.once('error', onSourceError);
  source.pipe(parser as unknown as NodeJS.WritableStream);
  try {
    for (;;) {
      if (failure !== undefined) throw failure;
      const entry = queue.shift();
      if (entry === undefined) {
        if (finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      if (entry.type === 'Directory') {
        entry.resume();
        continue;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        throw datasetErrors.badTar(`'${entry.path.slice(0, 200)}' is a ${entry.type}; only regular files and directories are allowed`);
      }
      yield { path: entry.path, stream: Readable.from(entry) };
    }
  } finally {
    source.off('error', onSourceError);
    source.unpipe(parser as unknown as NodeJS.WritableStream);
  }
}

export const createDatasetService = (deps: { db: Db; storage: TenantStorage }): DatasetService => {
  const { db, storage } = deps;

  const findDataset = async (tenantId: string, name: string): Promise<Dataset | undefined> =>
    withTenant(db, tenantId, async (tx) => {
      const { rows } = await tx.query<DatasetRow>(`SELECT ${datasetColumns} FROM datasets d WHERE d.name = $1`, [name]);
      return rows[0] === undefined ? undefined : toDataset(rows[0]);
    }, { readOnly: true });

  /** The version (latest: the newest visible) and its files; `ownerId`: only that tenant's dataset. */
  const versionIn = async (tx: Queryable, name: string, version: number | 'latest', ownerId: string | null) => {
    const { rows } = await tx.query<VersionRow & { dataset_id: string }>(
      `SELECT ${versionColumns}, v.dataset_id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
        WHERE d.name = $1 AND ($2::int IS NULL OR v.version = $2) AND ($3::uuid IS NULL OR d.tenant_id = $3::uuid) ORDER BY v.version DESC LIMIT 1`,
      [name, version === 'latest' ? null : version, ownerId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const { rows: files } = await tx.query<{ path: string; digest: string; size: number | string }>(
      'SELECT path, digest, size FROM dataset_files WHERE dataset_id = $1 AND version = $2 ORDER BY path',
      [row.dataset_id, row.version],
    );
    return { ...toVersion(row), files: files.map((file) => ({ path: file.path, digest: file.digest, size: Number(file.size) })) };
  };

  /** `{owner-slug}/{name}` of another existing tenant; undefined otherwise. */
  const sharedOwner = async (tenantId: string, qualified: string): Promise<{ ownerId: string; name: string } | undefined> => {
    const slash = qualified.indexOf('/');
    if (slash <= 0) return undefined;
    const name = qualified.slice(slash + 1);
    if (!DATASET_NAME_PATTERN.test(name)) return undefined;
    const ownerId = await otherTenantIdBySlug(db, tenantId, qualified.slice(0, slash));
    return ownerId === undefined ? undefined : { ownerId, name };
  };

  /** One read of shared data, in both tenants' audit chains (one system transaction, before the answer). */
  const auditRead = (ctx: RequestContext | undefined, tenantId: string, ownerId: string, target: string): Promise<void> =>
    auditSharedRead(db, { tenantId, actor: ctx?.actor ?? 'system', requestId: ctx?.requestId ?? 'internal' }, ownerId, target);

  const getVersion: DatasetService['getVersion'] = async (tenantId, name, version, ctx) => {
    if (name.includes('/')) {
      const owner = await sharedOwner(tenantId, name);
      const found = owner === undefined ? undefined : await withSharedRead(db, tenantId, owner.ownerId, (tx) => versionIn(tx, owner.name, version, owner.ownerId));
      if (owner === undefined || found === undefined) throw datasetErrors.versionNotFound(name, version);
      await auditRead(ctx, tenantId, owner.ownerId, `dataset:${name}/${found.version}`);
      return { ...found, dataset: name };
    }
    checkName(name);
    const found = await withTenant(db, tenantId, (tx) => versionIn(tx, name, version, null), { readOnly: true });
    if (found === undefined) throw datasetErrors.versionNotFound(name, version);
    return found;
  };

  const pushVersion: DatasetService['pushVersion'] = async (ctx, tenantId, name, files, options = {}) => {
    checkName(name);
    const session = await storage.beginUpload(tenantId, { expectedBytes: options.contentLength });
    try {
      const staged: Array<StagedBlob & { path: string }> = [];
      const seen = new Set<string>();
      for await (const file of files) {
        const path = normalizeArtifactPath(file.path);
        if (seen.has(path)) throw datasetErrors.badTar(`'${path}' appears twice`);
        seen.add(path);
        staged.push({ ...(await session.stage(file.stream)), path });
      }
      if (staged.length === 0) throw datasetErrors.empty();
      const digest = datasetDigest(staged);
      const totalBytes = staged.reduce((sum, file) => sum + file.size, 0);
      return await withTenant(db, tenantId, async (tx) => {
        // Create on first push; the row lock serializes concurrent pushes so versions stay gap-free.
        await tx.query('INSERT INTO datasets (id, tenant_id, name) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, name) DO NOTHING', [randomUUID(), tenantId, name]);
        const { rows } = await tx.query<{ id: string }>('SELECT id FROM datasets WHERE name = $1 FOR UPDATE', [name]);
        const datasetId = rows[0]!.id;
        const { rows: next } = await tx.query<{ version: number }>('SELECT coalesce(max(version), 0) + 1 AS version FROM dataset_versions WHERE dataset_id = $1', [datasetId]);
        const version = Number(next[0]!.version);
        await session.commit(tx, staged);
        const { rows: created } = await tx.query<VersionRow>(
          `INSERT INTO dataset_versions (dataset_id, tenant_id, version, digest, file_count, total_bytes, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING $8::text AS name, version, digest, file_count, total_bytes, created_by, created_at`,
          [datasetId, tenantId, version, digest, staged.length, totalBytes, ctx.actor, name],
        );
        await tx.query(
          `INSERT INTO dataset_files (dataset_id, tenant_id, version, path, digest, size)
           SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::bigint[])`,
          [datasetId, tenantId, version, staged.map((f) => f.path), staged.map((f) => f.digest), staged.map((f) => f.size)],
        );
        await appendAuditEvent(tx, {
          tenantId, actor: ctx.actor, action: 'dataset.version.create', target: `dataset:${name}:${version}`, outcome: 'success', requestId: ctx.requestId,
          details: { digest, files: staged.length, bytes: totalBytes },
        });
        return toVersion(created[0]!);
      });
    } finally {
      await session.finish();
    }
  };

  return {
    async createDataset(ctx, tenantId, name, description = '') {
      checkName(name);
      try {
        return await withTenant(db, tenantId, async (tx) => {
          const { rows } = await tx.query<DatasetRow>(
            `INSERT INTO datasets (id, tenant_id, name, description) VALUES ($1, $2, $3, $4)
             RETURNING id, name, description, created_at, NULL::int AS latest_version`,
            [randomUUID(), tenantId, name, description],
          );
          await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'dataset.create', target: `dataset:${name}`, outcome: 'success', requestId: ctx.requestId });
          return toDataset(rows[0]!);
        });
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw datasetErrors.exists(name);
        throw error;
      }
    },

    async listDatasets(tenantId) {
      return withTenant(db, tenantId, async (tx) => (await tx.query<DatasetRow>(`SELECT ${datasetColumns} FROM datasets d ORDER BY d.name`)).rows.map(toDataset), { readOnly: true });
    },

    async getDataset(tenantId, name) {
      checkName(name);
      const dataset = await findDataset(tenantId, name);
      if (dataset === undefined) throw datasetErrors.notFound(name);
      return dataset;
    },

    pushVersionFromTar: (ctx, tenantId, name, tarStream, options) => pushVersion(ctx, tenantId, name, tarFiles(tarStream), options),
    pushVersion,

    async listVersions(tenantId, name) {
      checkName(name);
      return withTenant(db, tenantId, async (tx) => {
        const { rows: found } = await tx.query('SELECT 1 FROM datasets WHERE name = $1', [name]);
        if (found.length === 0) throw datasetErrors.notFound(name);
        const { rows } = await tx.query<VersionRow>(
          `SELECT ${versionColumns} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE d.name = $1 ORDER BY v.version DESC`,
          [name],
        );
        return rows.map(toVersion);
      }, { readOnly: true });
    },

    getVersion,

    async openVersionFile(tenantId, name, version, rawPath, ctx) {
      const path = normalizeArtifactPath(rawPath);
      if (name.includes('/')) {
        // A file of a shared version (issue 15): visible only under the shared_read policies; read with the owner's key.
        const owner = await sharedOwner(tenantId, name);
        const file = owner === undefined ? undefined : await withSharedRead(db, tenantId, owner.ownerId, async (tx) => (await tx.query<{ path: string; digest: string; size: number | string }>(
          `SELECT f.path, f.digest, f.size FROM dataset_files f JOIN datasets d ON d.id = f.dataset_id
            WHERE d.tenant_id = $4 AND d.name = $1 AND f.version = $2 AND f.path = $3`,
          [owner.name, version, path, owner.ownerId],
        )).rows[0]);
        if (owner === undefined || file === undefined) throw datasetErrors.fileNotFound(path);
        await auditRead(ctx, tenantId, owner.ownerId, `dataset:${name}/${version}`);
        const found = { path: file.path, digest: file.digest, size: Number(file.size) };
        return { file: found, stream: await storage.openBlob(owner.ownerId, found.digest, found.size) };
      }
      checkName(name);
      const file = await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ path: string; digest: string; size: number | string }>(
          `SELECT f.path, f.digest, f.size FROM dataset_files f JOIN datasets d ON d.id = f.dataset_id
            WHERE d.name = $1 AND f.version = $2 AND f.path = $3`,
          [name, version, path],
        );
        return rows[0];
      }, { readOnly: true });
      if (file === undefined) throw datasetErrors.fileNotFound(path);
      const found = { path: file.path, digest: file.digest, size: Number(file.size) };
      return { file: found, stream: await storage.openBlob(tenantId, found.digest, found.size) };
    },

    async materializeDatasetVersion(tenantId, name, version, targetDir) {
      const resolved = await getVersion(tenantId, name, version);
      // A version shared with the tenant (`{owner}/{name}`, issue 15): its files are the owner's blobs,
      // decrypted with the owner's key — getVersion above has already had the database admit the version.
      const shared = name.includes('/') ? await sharedOwner(tenantId, name) : undefined;
      const blobOwner = name.includes('/') ? shared?.ownerId : tenantId;
      if (blobOwner === undefined) throw datasetErrors.versionNotFound(name, version);
      await mkdir(targetDir, { recursive: true, mode: 0o700 });
      for (const file of resolved.files) {
        // Paths were validated on the way in; validate again on the way out (defence in depth).
        const path = normalizeArtifactPath(file.path);
        const target = join(targetDir, path);
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        // Refuse symlinked directories planted inside the target.
        let current = targetDir;
        for (const segment of path.split('/').slice(0, -1)) {
          current = join(current, segment);
          if ((await lstat(current)).isSymbolicLink()) throw new AppError('INTERNAL', 'materialization target contains a symlink');
        }
        // Created read-only (0444) and exclusively, never through a symlink.
        const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o444);
        await pipeline(await storage.openBlob(blobOwner, file.digest, file.size), handle.createWriteStream());
      }
      // The cross-tenant lineage edge (issue 15): this tenant's job mounted the owner's version.
      if (shared !== undefined) await recordSharedUse(db, tenantId, { ownerId: shared.ownerId, kind: 'dataset', name: shared.name, version: resolved.version }, 'job');
      const { files: _files, ...summary } = resolved;
      return summary;
    },
  };
};
