export { INSERT_METRICS_SQL } from '../../src/tracking/tracking-queries.ts';
export const LATER_SQL = `(EXCLUDED.step, EXCLUDED.timestamp, CASE WHEN EXCLUDED.is_nan THEN 0 ELSE EXCLUDED.value END) > (l.step, l.timestamp, CASE WHEN l.is_nan THEN 0 ELSE l.value END)`;
export const APPENDS_SQL = `(l.step_stride > 0 AND EXCLUDED.step_stride IS NOT NULL AND (EXCLUDED.step_stride = l.step_stride OR EXCLUDED.step_count = 1) AND EXCLUDED.step_min = l.step_min + l.step_count * l.step_stride)`;
export const UNION_SQL = 'bulkhead_step_union(l.step_min, l.step_count, l.step_stride, EXCLUDED.step_min, EXCLUDED.step_count, EXCLUDED.step_stride)';
