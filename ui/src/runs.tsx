import { useEffect, useState } from 'preact/hooks';
import { mlflow, request } from './api.ts';
import { Empty, ErrorBox, Link, Loading, navigate, useLoad } from './common.tsx';
import { MetricChart } from './chart.tsx';
import type { Series } from './chart.tsx';

interface KV { key: string; value: string | number }
interface Run {
  info: { run_id: string; run_name?: string; status: string; start_time?: number; end_time?: number; experiment_id: string; artifact_uri?: string; user_id?: string };
  data: { metrics?: KV[]; params?: KV[]; tags?: KV[] };
}

const runName = (run: Run): string => run.info.run_name ?? run.data.tags?.find((t) => t.key === 'mlflow.runName')?.value.toString() ?? run.info.run_id;
const userTags = (run: Run): KV[] => (run.data.tags ?? []).filter((t) => !t.key.startsWith('mlflow.'));
const keysOf = (runs: Run[], pick: (r: Run) => KV[] | undefined): string[] => [...new Set(runs.flatMap((r) => (pick(r) ?? []).map((kv) => kv.key)))].sort();
const valueOf = (list: KV[] | undefined, key: string): string => {
  const found = list?.find((kv) => kv.key === key);
  if (found === undefined) return '';
  return typeof found.value === 'number' ? (Number.isInteger(found.value) ? String(found.value) : found.value.toPrecision(5)) : found.value;
};
const when = (ms: number | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

const PAGE_SIZES = [100, 1000, 5000] as const;
/** The run attributes shown before the params, metrics and tags: header label and the server's order field. */
const RUN_COLUMNS = [
  ['Run', 'attributes.run_name'],
  ['Status', 'attributes.status'],
  ['Started', 'attributes.start_time'],
  ['Ended', 'attributes.end_time'],
  ['User', 'attributes.user_id'],
] as const;
/** Rows are one line high (CSS `.runs td`), so the window is simple arithmetic. */
const ROW_HEIGHT = 33;
const VIRTUAL_ABOVE = 200;

/**
 * The rows to render for a scroll position: the visible ones and an overscan either side, with the height
 * of the rest as spacers, so a page of thousands of runs keeps the DOM at ~60 rows.
 */
const windowOf = (count: number, scrollTop: number, viewport: number): { start: number; end: number } => {
  if (count <= VIRTUAL_ABOVE) return { start: 0, end: count };
  const start = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - 20);
  return { start, end: Math.min(count, start + Math.ceil(viewport / ROW_HEIGHT) + 40) };
};

/**
 * An experiment's runs: params, latest metrics and tags as columns; filtered with MLflow's grammar and
 * sorted by the server; one page of 100 at a time (the server pages; the table never holds more).
 */
export const RunsPage = ({ tenant, experimentId, query }: { tenant: string; experimentId: string; query: URLSearchParams }) => {
  const filter = query.get('filter') ?? '';
  const order = query.get('order') ?? 'attributes.start_time DESC';
  const pageToken = query.get('page') ?? '';
  const size = PAGE_SIZES.find((n) => String(n) === query.get('size')) ?? PAGE_SIZES[0];
  const [selected, setSelected] = useState<string[]>([]);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const [experiment, experimentError] = useLoad(() => mlflow('GET', 'experiments/get', { experiment_id: experimentId }), [experimentId]);
  const [page, error] = useLoad(() => mlflow('POST', 'runs/search', {
    experiment_ids: [experimentId], filter, max_results: size, order_by: [order], ...(pageToken === '' ? {} : { page_token: pageToken }),
  }) as Promise<{ runs?: Run[]; next_page_token?: string }>, [experimentId, filter, order, pageToken, size]);
  const base = `/ui/t/${tenant}/experiments/${encodeURIComponent(experimentId)}`;
  const go = (changes: Record<string, string>) => {
    const next = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) if (v === '') next.delete(k); else next.set(k, v);
    navigate(`${base}?${next}`);
  };
  if (experimentError !== undefined) return <ErrorBox error={experimentError} />;
  const runs = page?.runs ?? [];
  const params = keysOf(runs, (r) => r.data.params);
  const metrics = keysOf(runs, (r) => r.data.metrics);
  const tags = keysOf(runs, userTags);
  const sortable = (label: string, field: string) => {
    const current = order.startsWith(`${field} `) ? (order.endsWith('ASC') ? 'ascending' : 'descending') : 'none';
    return (
      <th scope="col" aria-sort={current}>
        <button type="button" class="sort" onClick={() => go({ order: `${field} ${current === 'descending' ? 'ASC' : 'DESC'}`, page: '' })}>{label}</button>
      </th>
    );
  };
  return (
    <section>
      <h1>Runs of {experiment?.experiment?.name ?? `experiment ${experimentId}`}</h1>
      <form class="toolbar" onSubmit={(e) => {
        e.preventDefault();
        go({ filter: (e.currentTarget.elements.namedItem('filter') as HTMLInputElement).value, page: '' });
      }}>
        <label for="filter">Filter (MLflow syntax)</label>
        <input id="filter" name="filter" defaultValue={filter} placeholder="metrics.loss < 0.5 and params.lr = '0.01'" size={50} />
        <button type="submit">Apply</button>
        <label for="size">Runs per page</label>
        <select id="size" value={String(size)} onChange={(e) => go({ size: e.currentTarget.value, page: '' })}>
          {PAGE_SIZES.map((n) => <option value={String(n)}>{n}</option>)}
        </select>
        <button type="button" disabled={selected.length < 2} onClick={() => navigate(`/ui/t/${tenant}/compare?runs=${selected.join(',')}`)}>
          Compare selected ({selected.length})
        </button>
      </form>
      {error !== undefined ? <ErrorBox error={error} /> : page === undefined ? <Loading what="runs" /> : runs.length === 0 ? <Empty>No runs match.</Empty> : (
        <div class="table-wrap" onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight })}>
          <table class="runs">
            <caption>{runs.length} runs on this page</caption>
            <thead>
              <tr>
                <th scope="col">Select</th>
                {RUN_COLUMNS.map(([label, field]) => sortable(label, field))}
                {params.map((k) => sortable(`param ${k}`, `params.\`${k}\``))}
                {metrics.map((k) => sortable(`metric ${k}`, `metrics.\`${k}\``))}
                {tags.map((k) => <th scope="col">tag {k}</th>)}
              </tr>
            </thead>
            <tbody>
              {(() => {
                const { start, end } = windowOf(runs.length, scroll.top, scroll.height);
                const columns = 1 + RUN_COLUMNS.length + params.length + metrics.length + tags.length;
                const spacer = (rows: number, key: string) => (rows === 0 ? null : <tr key={key} aria-hidden="true" class="spacer"><td colSpan={columns} style={{ height: `${rows * ROW_HEIGHT}px`, padding: 0, border: 'none' }} /></tr>);
                return [spacer(start, 'above'), ...runs.slice(start, end).map((run) => (
                <tr key={run.info.run_id}>
                  <td><input type="checkbox" aria-label={`select ${runName(run)}`} checked={selected.includes(run.info.run_id)}
                    onChange={(e) => setSelected((s) => (e.currentTarget.checked ? [...s, run.info.run_id] : s.filter((id) => id !== run.info.run_id)))} /></td>
                  <td><Link to={`/ui/t/${tenant}/runs/${run.info.run_id}`}>{runName(run)}</Link></td>
                  <td>{run.info.status}</td>
                  <td>{when(run.info.start_time)}</td>
                  <td>{when(run.info.end_time)}</td>
                  <td>{run.info.user_id}</td>
                  {params.map((k) => <td>{valueOf(run.data.params, k)}</td>)}
                  {metrics.map((k) => <td class="num">{valueOf(run.data.metrics, k)}</td>)}
                  {tags.map((k) => <td>{valueOf(run.data.tags, k)}</td>)}
                </tr>
              )), spacer(runs.length - end, 'below')];
              })()}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {pageToken !== '' && <button type="button" onClick={() => history.back()}>Previous page</button>}
        {page?.next_page_token !== undefined && page.next_page_token !== '' && <button type="button" onClick={() => go({ page: page.next_page_token! })}>Next page</button>}
      </nav>
    </section>
  );
};

type XAxis = 'step' | 'time';

const history_ = async (runId: string, key: string): Promise<Array<{ step: number; timestamp: number; value: number }>> => {
  const points: Array<{ step: number; timestamp: number; value: number }> = [];
  let token: string | undefined;
  do {
    const page = await mlflow('GET', 'metrics/get-history', { run_id: runId, metric_key: key, max_results: 25_000, page_token: token });
    points.push(...(page.metrics ?? []));
    token = page.next_page_token === '' ? undefined : page.next_page_token;
  } while (token !== undefined);
  return points;
};

const toSeries = (label: string, points: Array<{ step: number; timestamp: number; value: number }>, x: XAxis): Series => ({
  label,
  points: points.map((p) => [x === 'step' ? Number(p.step) : Number(p.timestamp) / 1000, Number(p.value)] as [number, number]).sort((a, b) => a[0] - b[0]),
});

/** Charts, one per metric key, with every given run overlaid. */
const Charts = ({ runs, x }: { runs: Run[]; x: XAxis }) => {
  const keys = keysOf(runs, (r) => r.data.metrics);
  const [histories, error] = useLoad(async () => {
    const out: Record<string, Array<{ run: Run; points: Awaited<ReturnType<typeof history_>> }>> = {};
    for (const key of keys) {
      out[key] = await Promise.all(runs.filter((r) => r.data.metrics?.some((m) => m.key === key)).map(async (run) => ({ run, points: await history_(run.info.run_id, key) })));
    }
    return out;
  }, [runs.map((r) => r.info.run_id).join(','), keys.join(',')]);
  if (keys.length === 0) return <Empty>No metrics logged.</Empty>;
  if (error !== undefined) return <ErrorBox error={error} />;
  if (histories === undefined) return <Loading what="metrics" />;
  return <div class="charts">{keys.map((key) => <MetricChart key={`${key}-${x}`} metric={key} xLabel={x} series={(histories[key] ?? []).map((h) => toSeries(runName(h.run), h.points, x))} />)}</div>;
};

const XPicker = ({ x, setX }: { x: XAxis; setX: (x: XAxis) => void }) => (
  <fieldset class="toolbar">
    <legend>x axis</legend>
    {(['step', 'time'] as const).map((value) => (
      <label><input type="radio" name="x" value={value} checked={x === value} onChange={() => setX(value)} /> {value}</label>
    ))}
  </fieldset>
);

const KVTable = ({ title, rows }: { title: string; rows: KV[] }) => (
  <table class="kv">
    <caption>{title}</caption>
    <tbody>{rows.length === 0 ? <tr><td>none</td></tr> : rows.map((kv) => <tr><th scope="row">{kv.key}</th><td>{String(kv.value)}</td></tr>)}</tbody>
  </table>
);

export const RunPage = ({ tenant, runId }: { tenant: string; runId: string }) => {
  const [x, setX] = useState<XAxis>('step');
  const [data, error] = useLoad(() => mlflow('GET', 'runs/get', { run_id: runId }) as Promise<{ run: Run }>, [runId]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (data === undefined) return <Loading what="the run" />;
  const run = data.run;
  return (
    <section>
      <p><Link to={`/ui/t/${tenant}/experiments/${run.info.experiment_id}`}>← runs of experiment {run.info.experiment_id}</Link></p>
      <h1>Run {runName(run)}</h1>
      <p class="meta">{run.info.run_id} · {run.info.status} · started {when(run.info.start_time)}</p>
      <div class="columns">
        <KVTable title="Parameters" rows={run.data.params ?? []} />
        <KVTable title="Tags" rows={userTags(run)} />
      </div>
      <h2>Metrics</h2>
      <XPicker x={x} setX={setX} />
      <Charts runs={[run]} x={x} />
      <h2>Artifacts</h2>
      <Artifacts root={(run.info.artifact_uri ?? '').replace(/^mlflow-artifacts:\/*/, '')} />
    </section>
  );
};

export const ComparePage = ({ tenant, runIds }: { tenant: string; runIds: string[] }) => {
  const [x, setX] = useState<XAxis>('step');
  const [runs, error] = useLoad(() => Promise.all(runIds.map(async (id) => ((await mlflow('GET', 'runs/get', { run_id: id })) as { run: Run }).run)), [runIds.join(',')]);
  if (runIds.length === 0) return <Empty>Select runs to compare.</Empty>;
  if (error !== undefined) return <ErrorBox error={error} />;
  if (runs === undefined) return <Loading what="the runs" />;
  return (
    <section>
      <h1>Comparing {runs.length} runs</h1>
      <ul>{runs.map((r) => <li><Link to={`/ui/t/${tenant}/runs/${r.info.run_id}`}>{runName(r)}</Link></li>)}</ul>
      <XPicker x={x} setX={setX} />
      <Charts runs={runs} x={x} />
    </section>
  );
};

// ---- artifacts: listed, downloaded through fetch, previewed as text; never rendered as HTML ----------------

const artifactUrl = (path: string) => `/api/2.0/mlflow-artifacts/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
const imageTypes: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

const Preview = ({ path }: { path: string }) => {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  const [content, error] = useLoad(async () => {
    const response = (await request('GET', artifactUrl(path), undefined, { raw: true })) as Response;
    const bytes = await response.arrayBuffer();
    // Images are shown from a blob of a fixed raster type: an SVG (script-capable) is shown as text.
    if (imageTypes[ext] !== undefined) return { image: URL.createObjectURL(new Blob([bytes], { type: imageTypes[ext] })) };
    let text = new TextDecoder().decode(bytes.slice(0, 200_000));
    if (ext === 'json') {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // shown as it is
      }
    }
    return { text };
  }, [path]);
  useEffect(() => () => {
    if (content?.image !== undefined) URL.revokeObjectURL(content.image);
  }, [content]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (content === undefined) return <Loading what="the preview" />;
  return content.image !== undefined ? <img class="preview" src={content.image} alt={`preview of ${path}`} /> : <pre class="preview" aria-label={`preview of ${path}`}>{content.text}</pre>;
};

const download = async (path: string) => {
  const response = (await request('GET', artifactUrl(path), undefined, { raw: true })) as Response;
  // A blob of a neutral type, saved with a download link: the artifact never becomes a page of this origin.
  const url = URL.createObjectURL(new Blob([await response.arrayBuffer()], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = path.split('/').at(-1) ?? 'artifact';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
};

const Artifacts = ({ root }: { root: string }) => {
  const [dir, setDir] = useState('');
  const [open, setOpen] = useState<string | undefined>(undefined);
  const at = dir === '' ? root : `${root}/${dir}`;
  const [listing, error] = useLoad(() => request('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(at)}`) as Promise<{ files?: Array<{ path: string; is_dir: boolean; file_size?: number }> }>, [at]);
  if (root === '') return <Empty>This run has no artifact location.</Empty>;
  if (error !== undefined) return <ErrorBox error={error} />;
  if (listing === undefined) return <Loading what="artifacts" />;
  const files = listing.files ?? [];
  return (
    <div class="artifacts">
      {dir !== '' && <button type="button" onClick={() => setDir(dir.split('/').slice(0, -1).join('/'))}>Up one folder</button>}
      {files.length === 0 ? <Empty>No artifacts{dir === '' ? '' : ` in ${dir}`}.</Empty> : (
        <ul>
          {files.map((f) => {
            const name = f.path.split('/').at(-1) ?? f.path;
            const rel = dir === '' ? name : `${dir}/${name}`;
            return (
              <li>
                {f.is_dir ? <button type="button" class="linklike" onClick={() => setDir(rel)}>{name}/</button> : (
                  <>
                    <span>{name}</span> <span class="meta">{f.file_size ?? 0} bytes</span>{' '}
                    <button type="button" onClick={() => setOpen(`${root}/${rel}`)} aria-label={`preview ${name}`}>Preview</button>{' '}
                    <button type="button" onClick={() => void download(`${root}/${rel}`)} aria-label={`download ${name}`}>Download</button>
                  </>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {open !== undefined && <Preview path={open} />}
    </div>
  );
};
