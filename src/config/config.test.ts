import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAppError } from '../core/errors.ts';
import { loadConfig } from './config.ts';

test('defaults: embedded database under ./.bulkhead on 127.0.0.1:8080', () => {
  const config = loadConfig({});
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8080);
  assert.equal(config.databaseUrl, undefined);
  assert.ok(config.home.endsWith('.bulkhead'));
});

test('a bad config lists every problem at once, naming the variables, never echoing values', () => {
  try {
    loadConfig({ BULKHEAD_PORT: '99999', BULKHEAD_DATABASE_URL: 'mysql://x', BULKHEAD_BOOTSTRAP_TOKEN: 'secret-but-too-short', BULKHEAD_LOG_LEVEL: 'loud' });
    assert.fail('expected a validation error');
  } catch (error) {
    assert.ok(isAppError(error));
    assert.equal(error.code, 'VALIDATION_FAILED');
    const problems = (error.details as { problems: string[] }).problems;
    assert.equal(problems.length, 4, problems.join('\n'));
    for (const name of ['BULKHEAD_PORT', 'BULKHEAD_DATABASE_URL', 'BULKHEAD_BOOTSTRAP_TOKEN', 'BULKHEAD_LOG_LEVEL']) {
      assert.ok(error.message.includes(name), name);
    }
    assert.ok(!error.message.includes('secret-but-too-short'));
  }
});

test('the config file is read, and the environment and flags take precedence over it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-config-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ port: 9000, host: '0.0.0.0', logLevel: 'debug' }));
  const config = loadConfig({ BULKHEAD_CONFIG: file, BULKHEAD_PORT: '9100' }, { host: '127.0.0.2' });
  assert.equal(config.port, 9100);
  assert.equal(config.host, '127.0.0.2');
  assert.equal(config.logLevel, 'debug');
});

test('unknown keys in the config file and unreadable files are problems too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-config-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ prot: 1 }));
  assert.throws(() => loadConfig({ BULKHEAD_CONFIG: file }), /prot/);
  assert.throws(() => loadConfig({ BULKHEAD_CONFIG: join(dir, 'missing.json') }), /BULKHEAD_CONFIG/);
});

test('BULKHEAD_FAIR_SHARE_HALF_LIFE: default 7 days; durations with units; bare digits are seconds; nonsense is refused', () => {
  assert.equal(loadConfig({}).fairShareHalfLifeMs, 7 * 24 * 3600 * 1000);
  assert.equal(loadConfig({ BULKHEAD_FAIR_SHARE_HALF_LIFE: '36h' }).fairShareHalfLifeMs, 36 * 3600 * 1000);
  assert.equal(loadConfig({ BULKHEAD_FAIR_SHARE_HALF_LIFE: '1.5d' }).fairShareHalfLifeMs, 1.5 * 86_400_000);
  assert.equal(loadConfig({ BULKHEAD_FAIR_SHARE_HALF_LIFE: '90m' }).fairShareHalfLifeMs, 90 * 60_000);
  assert.equal(loadConfig({ BULKHEAD_FAIR_SHARE_HALF_LIFE: '600' }).fairShareHalfLifeMs, 600_000);
  for (const bad of ['soon', '-1d', '0s', '400d']) {
    assert.throws(() => loadConfig({ BULKHEAD_FAIR_SHARE_HALF_LIFE: bad }), (error: unknown) => isAppError(error) && error.message.includes('BULKHEAD_FAIR_SHARE_HALF_LIFE'), bad);
  }
});
