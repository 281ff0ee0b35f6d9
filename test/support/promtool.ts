/** `promtool check metrics` on a scrape: exit status and what it said (lint problems on stdout/stderr). */
import { spawnSync } from 'node:child_process';

export const promtoolCheckMetrics = (exposition: string): { status: number | null; output: string } => {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  if (result.error !== undefined) throw new Error(`promtool could not run (Debian package prometheus; .ci/run installs it): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
};

/** The label values of `label` over every sample of the metric family `name` (histograms: all its series). */
export const labelValues = (exposition: string, name: string, label: string): Set<string> => {
  const values = new Set<string>();
  const pattern = new RegExp(`^${name}(?:_bucket|_sum|_count)?\\{(.*)\\} \\S+$`, 'gm');
  for (const match of exposition.matchAll(pattern)) {
    const found = new RegExp(`(?:^|,)${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(match[1] ?? '');
    if (found !== null) values.add(found[1] ?? '');
  }
  return values;
};

/**
 * The value of the first sample of the metric `name` (exactly: not `name_total` for `name`) that carries every
 * label of `labels`; undefined when there is none.
 */
export const sampleValue = (exposition: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const wanted = Object.entries(labels).map(([key, value]) => `,${key}="${value}",`);
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const labelText = rest.startsWith('{') ? rest.slice(1, rest.lastIndexOf('}')) : rest.startsWith(' ') ? '' : undefined;
    if (labelText === undefined || !wanted.every((pair) => `,${labelText},`.includes(pair))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
};
