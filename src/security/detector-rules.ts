/**
 * The detector's rules and thresholds: one zod schema with defaults, overridable per rule in the config file
 * (`securityRules`), and every duration divided by `timeScale` (1 in production; the bench compresses a day).
 * docs/security-monitoring.md explains each feature and why its defaults are what they are.
 */
import { z } from 'zod';
import { AppError } from '../core/errors.ts';

export const alertKinds = [
  'bola_probing',
  'credential_stuffing',
  'token_new_source',
  'exfiltration',
  'deletion_burst',
  'sandbox_violation',
  'revoked_token_use',
] as const;
export type AlertKind = (typeof alertKinds)[number];

export const severities = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];

const minutes = (n: number): number => n * 60_000;

/** A count or volume over a sliding window, compared with the principal's own history of such windows. */
const windowSchema = z.strictObject({
  /** Length of the sliding window; the baseline's buckets have the same length. */
  windowMs: z.number().int().positive(),
  /** Never alert below this (absolute floor: a principal with no history has only this). */
  minValue: z.number().positive(),
  /** How far back the baseline looks (a whole number of windows). */
  historyMs: z.number().int().positive(),
});

const rateRuleSchema = z.strictObject({
  enabled: z.boolean(),
  severity: z.enum(severities),
  /** Threshold = max(minValue, median + k·1.4826·MAD, ratio·p95) of the baseline buckets, times the FP factor. */
  k: z.number().positive(),
  ratio: z.number().positive(),
  windows: z.array(windowSchema).min(1).max(4),
  /** After an alert, the same principal and rule stay quiet this long (one alert per episode). */
  cooldownMs: z.number().int().positive(),
});

export const rulesSchema = z.strictObject({
  bola_probing: rateRuleSchema,
  credential_stuffing: rateRuleSchema,
  deletion_burst: rateRuleSchema,
  exfiltration: rateRuleSchema,
  token_new_source: z.strictObject({
    enabled: z.boolean(),
    severity: z.enum(severities),
    /** A token counts as having a stable history once first seen at least this long ago... */
    minHistoryMs: z.number().int().positive(),
    /** ...and from at most this many distinct addresses (and as many user agents): roaming tokens are not judged. */
    maxKnownSources: z.number().int().min(1).max(100),
    cooldownMs: z.number().int().positive(),
  }),
  sandbox_violation: z.strictObject({ enabled: z.boolean(), severity: z.enum(severities), cooldownMs: z.number().int().positive() }),
  revoked_token_use: z.strictObject({ enabled: z.boolean(), severity: z.enum(severities), cooldownMs: z.number().int().positive() }),
  /** Each false positive an operator marks multiplies that principal's threshold for that rule by this. */
  falsePositiveFactor: z.number().min(1).max(100),
  /** The factor never grows past this. */
  falsePositiveMaxFactor: z.number().min(1).max(10_000),
});
export type DetectorRules = z.infer<typeof rulesSchema>;
export type RateRule = z.infer<typeof rateRuleSchema>;

export const defaultRules: DetectorRules = {
  // 404s on ids the principal does not own (other tenants' refs, unknown resource ids): a scanner walks ids.
  bola_probing: {
    enabled: true, severity: 'high', k: 6, ratio: 4, cooldownMs: minutes(30),
    windows: [{ windowMs: minutes(5), minValue: 20, historyMs: minutes(24 * 60) }, { windowMs: minutes(60), minValue: 30, historyMs: minutes(24 * 60) }],
  },
  // Authentication failures from one source address; no baseline per address (most have none).
  credential_stuffing: {
    enabled: true, severity: 'high', k: 6, ratio: 4, cooldownMs: minutes(30),
    windows: [{ windowMs: minutes(5), minValue: 20, historyMs: minutes(24 * 60) }, { windowMs: minutes(60), minValue: 50, historyMs: minutes(24 * 60) }],
  },
  deletion_burst: {
    enabled: true, severity: 'high', k: 6, ratio: 4, cooldownMs: minutes(30),
    windows: [{ windowMs: minutes(5), minValue: 25, historyMs: minutes(24 * 60) }, { windowMs: minutes(60), minValue: 80, historyMs: minutes(24 * 60) }],
  },
  // Bytes downloaded (artifacts, dataset files) per token.
  exfiltration: {
    enabled: true, severity: 'critical', k: 8, ratio: 5, cooldownMs: minutes(60),
    windows: [{ windowMs: minutes(15), minValue: 256 * 1024 * 1024, historyMs: minutes(24 * 60) }, { windowMs: minutes(120), minValue: 1024 * 1024 * 1024, historyMs: minutes(24 * 60) }],
  },
  token_new_source: { enabled: true, severity: 'medium', minHistoryMs: minutes(60), maxKnownSources: 3, cooldownMs: minutes(60) },
  sandbox_violation: { enabled: true, severity: 'high', cooldownMs: minutes(10) },
  revoked_token_use: { enabled: true, severity: 'high', cooldownMs: minutes(30) },
  falsePositiveFactor: 2,
  falsePositiveMaxFactor: 64,
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deep merge of plain objects; arrays and scalars of `override` replace. */
const merge = (base: unknown, override: unknown): unknown => {
  if (!isRecord(base) || !isRecord(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = merge(base[key], value);
  return out;
};

const scaleDurations = (value: unknown, scale: number): unknown => {
  if (Array.isArray(value)) return value.map((item) => scaleDurations(item, scale));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = key.endsWith('Ms') && typeof item === 'number' ? Math.max(1, Math.round(item / scale)) : scaleDurations(item, scale);
  }
  return out;
};

/**
 * The effective rules: defaults, overridden by `overrides` (the config file's `securityRules`, any subset),
 * with every `…Ms` duration divided by `timeScale`. Throws VALIDATION_FAILED listing every problem.
 */
export const resolveRules = (overrides: Record<string, unknown> | undefined, timeScale = 1): DetectorRules => {
  const merged = merge(defaultRules, overrides ?? {});
  const result = rulesSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `securityRules.${issue.path.join('.')}: ${issue.message}`);
    throw new AppError('VALIDATION_FAILED', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  }
  return scaleDurations(result.data, timeScale) as DetectorRules;
};
