/** Human-readable trees of lineage (the CLI prints these). Pure: data in, text out. */
import type { DatasetLineage, LineageSharing, ModelLineage } from '../contract/lineage-views.ts';

const short = (digest: string | null): string => (digest === null ? 'digest unknown' : `sha256:${digest.slice(0, 16)}…`);

const tree = (lines: Array<[depth: number, last: boolean, text: string]>): string[] => {
  // `open[d]` is whether depth d still has siblings to come (draw a rail under it).
  const open: boolean[] = [];
  return lines.map(([depth, last, text]) => {
    open[depth] = !last;
    let prefix = '';
    for (let d = 0; d < depth; d += 1) prefix += open[d] === true ? '│  ' : '   ';
    return `${prefix}${last ? '└─ ' : '├─ '}${text}`;
  });
};

/** Cross-tenant edges (issue 15), printed only when there are any: a shared object's owner, and who used it. */
const sharingLines = (sharing: LineageSharing): string[] => {
  const lines: string[] = [];
  if (sharing.sharedFrom !== null) lines.push(`  shared by tenant ${sharing.sharedFrom} (its upstream is not shown)`);
  const label = sharing.sharedFrom === null ? 'used by tenant' : 'used here from tenant';
  for (const use of sharing.uses) lines.push(`  ${label} ${use.tenant} in a ${use.kind} (first ${use.firstUsedAt}, last ${use.lastUsedAt})`);
  for (const deployment of sharing.deployments) lines.push(`  deployed here as ${deployment.name}`);
  return lines;
};

export const formatModelLineage = (l: ModelLineage): string => {
  const up = l.upstream;
  const head = `model ${l.model.name} version ${l.model.version}  (${l.model.source})`;
  const note = l.recorded ? `recorded ${l.recordedAt ?? ''} by ${l.recordedBy ?? ''} via ${l.recordedVia ?? ''}` : 'not recorded: derived from the run now';
  const lines: Array<[number, boolean, string]> = [];
  const params = Object.entries(up.params).sort(([a], [b]) => a.localeCompare(b));
  const sections: Array<() => void> = [];
  sections.push(() => lines.push([0, false, up.job === null ? 'job: none (not produced by a Bulkhead job)' : `job ${up.job.id}${up.job.name === '' ? '' : ` "${up.job.name}"`} (${up.job.status}, by ${up.job.createdBy})`]));
  sections.push(() => lines.push([0, false, up.run === null ? 'run: none' : `run ${up.run.id}${up.run.experimentId === null ? '' : ` (experiment ${up.run.experimentId})`}`]));
  sections.push(() => lines.push([0, false, up.codeBundle === null ? 'code: none' : `code ${up.codeBundle}  ${short(up.codeDigest)}`]));
  const image = up.image;
  if (image !== null) sections.push(() => lines.push([0, false, `image ${image.ref ?? ''}  ${image.digest}`]));
  sections.push(() => {
    lines.push([0, false, `params${params.length === 0 ? ': none' : ''}`]);
    params.forEach(([k, v], i) => lines.push([1, i === params.length - 1, `${k} = ${v}`]));
  });
  sections.push(() => {
    lines.push([0, true, `datasets${up.datasets.length === 0 ? ': none' : ''}`]);
    up.datasets.forEach((d, i) => {
      const others = d.modelVersions.filter((m) => m.name !== l.model.name || m.version !== l.model.version);
      lines.push([1, i === up.datasets.length - 1, `${d.name}:${d.version}  ${short(d.digest)}`]);
      others.forEach((m, j) => lines.push([2, j === others.length - 1, `also → model ${m.name} version ${m.version}`]));
    });
  });
  for (const section of sections) section();
  return [head, `  ${note}`, ...sharingLines(l.sharing), ...tree(lines)].join('\n');
};

export const formatDatasetLineage = (l: DatasetLineage): string => {
  const lines: Array<[number, boolean, string]> = [];
  lines.push([0, false, `jobs${l.jobs.length === 0 ? ': none' : ''}`]);
  l.jobs.forEach((j, i) => lines.push([1, i === l.jobs.length - 1, `job ${j.id}${j.name === '' ? '' : ` "${j.name}"`} (${j.status})${j.runId === null ? '' : ` run ${j.runId}`}`]));
  lines.push([0, true, `model versions${l.modelVersions.length === 0 ? ': none' : ''}`]);
  l.modelVersions.forEach((m, i) => lines.push([1, i === l.modelVersions.length - 1, `model ${m.name} version ${m.version}${m.jobId === null ? '' : ` (job ${m.jobId})`}`]));
  return [`dataset ${l.dataset.name}:${l.dataset.version}  ${short(l.dataset.digest)}`, ...sharingLines(l.sharing), ...tree(lines)].join('\n');
};
