import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Db } from './db-types.ts';

const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads the plain numbered SQL migrations (`NNNN-name.sql`) in order. */
export const loadMigrations = async (): Promise<Migration[]> => {
  const files = (await readdir(migrationsDir)).filter((file) => /^\d{4}-[a-z0-9-]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: await readFile(join(migrationsDir, file), 'utf8'),
    })),
  );
};

/**
 * Applies every migration not yet applied, each in its own transaction, as the connection's own user
 * (the schema owner). Forward-only. On PostgreSQL an advisory lock keeps two starting servers from
 * migrating at once. Returns the versions it applied.
 */
export const migrate = async (db: Db): Promise<number[]> => {
  await db.execAsOwner(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  if (db.kind === 'postgres') await db.queryAsOwner('SELECT pg_advisory_lock(7262617)');
  try {
    const applied = new Set(
      (await db.queryAsOwner<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version),
    );
    const done: number[] = [];
    for (const migration of await loadMigrations()) {
      if (applied.has(migration.version)) continue;
      await db.execAsOwner(
        `BEGIN;\n${migration.sql}\nINSERT INTO schema_migrations (version, name) VALUES (${migration.version}, '${migration.name}');\nCOMMIT;`,
      );
      done.push(migration.version);
    }
    return done;
  } catch (error) {
    await db.execAsOwner('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    if (db.kind === 'postgres') await db.queryAsOwner('SELECT pg_advisory_unlock(7262617)');
  }
};
