import { request, tenantApi } from './api.ts';
import { ErrorBox, Link, Loading, navigate, useLoad } from './common.tsx';

/**
 * Lineage, drawn: dataset versions → job / run → model version → deployments, left to right, from either
 * end (a model version's upstream, a dataset version's downstream). Every node is a link; the graph is
 * SVG built from text nodes (names are never markup), and the same graph is listed for screen readers.
 */
interface Node { id: string; column: number; label: string; to?: string }
interface Edge { from: string; to: string }

const Graph = ({ nodes, edges, title }: { nodes: Node[]; edges: Edge[]; title: string }) => {
  const columns = [0, 1, 2, 3];
  const colWidth = 240;
  const rowHeight = 56;
  const at = new Map<string, { x: number; y: number }>();
  for (const c of columns) nodes.filter((n) => n.column === c).forEach((n, i) => at.set(n.id, { x: 20 + c * colWidth, y: 30 + i * rowHeight }));
  const height = 40 + Math.max(1, ...columns.map((c) => nodes.filter((n) => n.column === c).length)) * rowHeight;
  return (
    <figure class="lineage">
      <svg role="img" aria-label={title} width={colWidth * 4} height={height} viewBox={`0 0 ${colWidth * 4} ${height}`}>
        {['dataset versions', 'job / run', 'model versions', 'deployments'].map((h, c) => <text x={20 + c * colWidth} y={16} class="lineage-head">{h}</text>)}
        {edges.map((e) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (a === undefined || b === undefined) return null;
          return <line x1={a.x + 190} y1={a.y + 16} x2={b.x} y2={b.y + 16} class="lineage-edge" />;
        })}
        {nodes.map((n) => {
          const p = at.get(n.id)!;
          const box = (
            <g>
              <rect x={p.x} y={p.y} width={190} height={32} rx={6} class="lineage-node" />
              <text x={p.x + 8} y={p.y + 20}>{n.label.length > 28 ? `${n.label.slice(0, 27)}…` : n.label}</text>
            </g>
          );
          return n.to === undefined ? box : (
            <a href={n.to} onClick={(event: MouseEvent) => {
              event.preventDefault();
              navigate(n.to!);
            }}>{box}</a>
          );
        })}
      </svg>
      <figcaption>
        <ul>{edges.map((e) => <li>{nodes.find((n) => n.id === e.from)?.label} → {nodes.find((n) => n.id === e.to)?.label}</li>)}</ul>
      </figcaption>
    </figure>
  );
};

interface Deployment { name: string; model: string; version: string; status: string }

export const ModelLineagePage = ({ tenant, name, version }: { tenant: string; name: string; version: string }) => {
  const [data, error] = useLoad(async () => {
    const [lineage, deployments] = await Promise.all([
      request('GET', tenantApi(tenant, `/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/lineage`)),
      request('GET', tenantApi(tenant, '/deployments')) as Promise<{ deployments: Deployment[] }>,
    ]);
    return { lineage, deployments: deployments.deployments.filter((d) => d.model === name && String(d.version) === String(version)) };
  }, [tenant, name, version]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (data === undefined) return <Loading what="lineage" />;
  const up = data.lineage.upstream;
  const model = `model:${name}:${version}`;
  const nodes: Node[] = [{ id: model, column: 2, label: `${name} v${version}` }];
  const edges: Edge[] = [];
  const middle = up.job !== null ? `job:${up.job.id}` : up.run !== null ? `run:${up.run.id}` : undefined;
  if (up.job !== null) nodes.push({ id: middle!, column: 1, label: `job ${up.job.name} (${up.job.status})`, to: `/ui/t/${tenant}/jobs/${up.job.id}` });
  else if (up.run !== null) nodes.push({ id: middle!, column: 1, label: `run ${up.run.id.slice(0, 8)}`, to: `/ui/t/${tenant}/runs/${up.run.id}` });
  if (middle !== undefined) edges.push({ from: middle, to: model });
  for (const d of up.datasets as Array<{ name: string; version: number }>) {
    const id = `dataset:${d.name}:${d.version}`;
    nodes.push({ id, column: 0, label: `${d.name} v${d.version}`, to: `/ui/t/${tenant}/lineage/dataset/${encodeURIComponent(d.name)}/${d.version}` });
    edges.push({ from: id, to: middle ?? model });
  }
  for (const d of data.deployments) {
    nodes.push({ id: `deployment:${d.name}`, column: 3, label: `${d.name} (${d.status})`, to: `/ui/t/${tenant}/deployments` });
    edges.push({ from: model, to: `deployment:${d.name}` });
  }
  return (
    <section>
      <p><Link to={`/ui/t/${tenant}/models`}>← models</Link></p>
      <h1>Lineage of {name} v{version}</h1>
      <p class="meta">{data.lineage.recorded ? `recorded ${data.lineage.recordedAt ?? ''} via ${data.lineage.recordedVia ?? ''}` : 'derived from the version\'s run (no recorded lineage)'}</p>
      <Graph nodes={nodes} edges={edges} title={`lineage graph of ${name} version ${version}`} />
    </section>
  );
};

export const DatasetLineagePage = ({ tenant, name, version }: { tenant: string; name: string; version: string }) => {
  const [lineage, error] = useLoad(() => request('GET', tenantApi(tenant, `/datasets/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/lineage`)), [tenant, name, version]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (lineage === undefined) return <Loading what="lineage" />;
  const dataset = `dataset:${name}:${version}`;
  const nodes: Node[] = [{ id: dataset, column: 0, label: `${name} v${version}` }];
  const edges: Edge[] = [];
  for (const j of lineage.jobs as Array<{ id: string; name: string; status: string }>) {
    nodes.push({ id: `job:${j.id}`, column: 1, label: `job ${j.name} (${j.status})`, to: `/ui/t/${tenant}/jobs/${j.id}` });
    edges.push({ from: dataset, to: `job:${j.id}` });
  }
  for (const m of lineage.modelVersions as Array<{ name: string; version: number; jobId: string | null }>) {
    const id = `model:${m.name}:${m.version}`;
    nodes.push({ id, column: 2, label: `${m.name} v${m.version}`, to: `/ui/t/${tenant}/lineage/model/${encodeURIComponent(m.name)}/${m.version}` });
    edges.push({ from: m.jobId !== null && nodes.some((n) => n.id === `job:${m.jobId}`) ? `job:${m.jobId}` : dataset, to: id });
  }
  return (
    <section>
      <p><Link to={`/ui/t/${tenant}/datasets`}>← datasets</Link></p>
      <h1>Lineage of dataset {name} v{version}</h1>
      <Graph nodes={nodes} edges={edges} title={`lineage graph of dataset ${name} version ${version}`} />
    </section>
  );
};
