import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeSync, closeSync, fsyncSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../core/errors.ts';

/**
 * The master key: 32 random bytes from config, or from a key file created with mode 0600 on first start.
 * It never enters the database. Sub-keys for separate purposes (audit event MACs, audit checkpoint signing,
 * wrapping tenant data keys) are derived from it with HKDF so one purpose's key reveals nothing about another's.
 */
export interface MasterKey {
  derive(purpose: string): Buffer;
}

export const loadMasterKey = (options: { base64?: string | undefined; file: string }): MasterKey => {
  let key: Buffer;
  if (options.base64 !== undefined) {
    key = Buffer.from(options.base64, 'base64');
  } else {
    key = readOrCreateKeyFile(options.file);
  }
  if (key.length !== 32) throw new AppError('VALIDATION_FAILED', 'master key must be 32 bytes');
  return {
    derive: (purpose) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `bulkhead:${purpose}`, 32)),
  };
};

const readOrCreateKeyFile = (file: string): Buffer => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': create only if absent, so two starting processes never overwrite each other's key.
    const fd = openSync(file, 'wx', 0o600);
    const key = randomBytes(32);
    try {
      writeSync(fd, key.toString('base64') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new AppError('VALIDATION_FAILED', `master key file ${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new AppError('VALIDATION_FAILED', `master key file ${file} does not hold 32 base64-encoded bytes`);
  return key;
};

export const hmacHex = (key: Buffer, message: string): string => createHmac('sha256', key).update(message).digest('hex');
