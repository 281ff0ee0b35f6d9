import { useEffect, useRef, useState } from 'preact/hooks';
import { mlflow, request, tenantApi } from './api.ts';
import { Empty, ErrorBox, Link, Loading, useLoad } from './common.tsx';
import { DeploymentLive } from './live.tsx';

const when = (value: string | number | null | undefined): string =>
  value === null || value === undefined ? '' : new Date(value).toISOString().replace('T', ' ').slice(0, 19);

// ---- experiments ----------------------------------------------------------------------------------------

export const Experiments = ({ tenant }: { tenant: string }) => {
  const [search, setSearch] = useState('');
  const [created, setCreated] = useState<unknown>(undefined);
  const [list, error, reload] = useLoad(() => mlflow('POST', 'experiments/search', {
    max_results: 1000, ...(search === '' ? {} : { filter: `name LIKE '%${search.replace(/'/g, "''")}%'` }),
  }) as Promise<{ experiments?: Array<{ experiment_id: string; name: string; creation_time?: number }> }>, [search]);
  return (
    <section>
      <h1>Experiments</h1>
      <form class="toolbar" role="search" onSubmit={(e) => {
        e.preventDefault();
        setSearch((e.currentTarget.elements.namedItem('q') as HTMLInputElement).value);
      }}>
        <label for="q">Search experiments</label>
        <input id="q" name="q" defaultValue={search} />
        <button type="submit">Search</button>
      </form>
      <form class="toolbar" onSubmit={(e) => {
        e.preventDefault();
        const input = e.currentTarget.elements.namedItem('name') as HTMLInputElement;
        mlflow('POST', 'experiments/create', { name: input.value }).then(() => {
          input.value = '';
          setCreated(undefined);
          reload();
        }, setCreated);
      }}>
        <label for="name">New experiment name</label>
        <input id="name" name="name" required maxLength={500} />
        <button type="submit">Create experiment</button>
      </form>
      {created !== undefined && <ErrorBox error={created} />}
      {error !== undefined ? <ErrorBox error={error} /> : list === undefined ? <Loading what="experiments" /> : (list.experiments ?? []).length === 0 ? <Empty>No experiments yet.</Empty> : (
        <table>
          <caption>Experiments</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {list.experiments!.map((x) => (
              <tr key={x.experiment_id}>
                <td><Link to={`/ui/t/${tenant}/experiments/${x.experiment_id}`}>{x.name}</Link></td>
                <td>{x.experiment_id}</td>
                <td>{when(x.creation_time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
};

// ---- jobs -----------------------------------------------------------------------------------------------

interface Job { id: string; name: string; status: string; tier: string; priority: number; createdAt?: string; runId: string | null; resources: { cpu: number; memoryMiB: number; gpu: number } }

export const Jobs = ({ tenant }: { tenant: string }) => {
  const [list, error] = useLoad(() => request('GET', tenantApi(tenant, '/jobs')) as Promise<{ jobs: Job[] }>, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="jobs" />;
  return (
    <section>
      <h1>Jobs</h1>
      {list.jobs.length === 0 ? <Empty>No jobs yet. Submit one with <code>bulkhead job submit</code>.</Empty> : (
        <table>
          <caption>Jobs, newest first</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Tier</th><th scope="col">CPU / MiB / GPU</th><th scope="col">Created</th></tr></thead>
          <tbody>{list.jobs.map((job) => (
            <tr key={job.id}>
              <td><Link to={`/ui/t/${tenant}/jobs/${job.id}`}>{job.name}</Link></td>
              <td><span class={`status status-${job.status}`}>{job.status}</span></td>
              <td>{job.tier}</td>
              <td>{job.resources.cpu} / {job.resources.memoryMiB} / {job.resources.gpu}</td>
              <td>{when(job.createdAt)}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
};

/** Follows `…/logs?follow=true`: lines are appended as the server streams them (no re-reading the log). */
const LiveLog = ({ tenant, jobId }: { tenant: string; jobId: string }) => {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<'streaming' | 'ended' | 'failed'>('streaming');
  const [error, setError] = useState<unknown>(undefined);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    void (async () => {
      try {
        const response = (await request('GET', `${tenantApi(tenant, `/jobs/${encodeURIComponent(jobId)}/logs`)}?follow=true`, undefined, { raw: true })) as Response;
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        abort.signal.addEventListener('abort', () => void reader.cancel());
        let pending = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          pending += value;
          const complete = pending.split('\n');
          pending = complete.pop() ?? '';
          if (complete.length > 0) setLines((l) => [...l, ...complete].slice(-5000));
        }
        if (pending !== '') setLines((l) => [...l, pending]);
        setState('ended');
      } catch (e) {
        if (!abort.signal.aborted) {
          setError(e);
          setState('failed');
        }
      }
    })();
    return () => abort.abort();
  }, [tenant, jobId]);
  useEffect(() => {
    if (box.current !== null) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  return (
    <>
      <p class="meta" role="status">{state === 'streaming' ? 'Streaming the log…' : state === 'ended' ? 'The log is complete.' : 'The log stream failed.'}</p>
      {error !== undefined && <ErrorBox error={error} />}
      <pre class="log" ref={box} tabIndex={0} aria-label="job log">{lines.join('\n')}</pre>
    </>
  );
};

export const JobPage = ({ tenant, jobId }: { tenant: string; jobId: string }) => {
  const [job, error, reload] = useLoad(() => request('GET', tenantApi(tenant, `/jobs/${encodeURIComponent(jobId)}`)) as Promise<Job>, [tenant, jobId]);
  const [explain, setExplain] = useState<unknown>(undefined);
  const [actionError, setActionError] = useState<unknown>(undefined);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (job === undefined) return <Loading what="the job" />;
  const live = job.status === 'queued' || job.status === 'running' || job.status === 'pending';
  return (
    <section>
      <p><Link to={`/ui/t/${tenant}/jobs`}>← jobs</Link></p>
      <h1>Job {job.name}</h1>
      <p class="meta">{job.id} · <span class={`status status-${job.status}`}>{job.status}</span> · tier {job.tier} · priority {job.priority}{job.runId === null ? '' : ' · '}
        {job.runId !== null && <Link to={`/ui/t/${tenant}/runs/${job.runId}`}>its run</Link>}</p>
      <div class="toolbar">
        <button type="button" onClick={() => request('GET', tenantApi(tenant, `/jobs/${encodeURIComponent(jobId)}/explain`)).then(setExplain, setActionError)}>Why is my job waiting?</button>
        <button type="button" disabled={!live} onClick={() => request('POST', tenantApi(tenant, `/jobs/${encodeURIComponent(jobId)}/cancel`)).then(reload, setActionError)}>Cancel job</button>
      </div>
      {actionError !== undefined && <ErrorBox error={actionError} />}
      {explain !== undefined && <pre class="explain" aria-label="explanation">{JSON.stringify(explain, null, 2)}</pre>}
      <h2>Log</h2>
      <LiveLog tenant={tenant} jobId={jobId} />
    </section>
  );
};

// ---- models ---------------------------------------------------------------------------------------------

interface Model { name: string; aliases?: Array<{ alias: string; version: string }>; latest_versions?: Array<{ version: string }> }

const ModelVersions = ({ tenant, name }: { tenant: string; name: string }) => {
  const [list, error] = useLoad(() => mlflow('GET', 'model-versions/search', { filter: `name='${name.replace(/'/g, "''")}'`, max_results: 200 }) as Promise<{ model_versions?: Array<{ version: string; status?: string; run_id?: string; creation_timestamp?: number }> }>, [name]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="versions" />;
  const versions = list.model_versions ?? [];
  return versions.length === 0 ? <Empty>No versions.</Empty> : (
    <ul>{versions.map((v) => (
      <li>version {v.version} · {v.status ?? ''} · {when(v.creation_timestamp)}{v.run_id === undefined || v.run_id === '' ? '' : ' · '}
        {v.run_id !== undefined && v.run_id !== '' && <Link to={`/ui/t/${tenant}/runs/${v.run_id}`}>from run</Link>}
        {' · '}<Link to={`/ui/t/${tenant}/lineage/model/${encodeURIComponent(name)}/${v.version}`}>lineage of {name} v{v.version}</Link></li>
    ))}</ul>
  );
};

export const Models = ({ tenant }: { tenant: string }) => {
  const [list, error] = useLoad(() => mlflow('GET', 'registered-models/search', { max_results: 1000 }) as Promise<{ registered_models?: Model[] }>, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="models" />;
  const models = list.registered_models ?? [];
  return (
    <section>
      <h1>Models</h1>
      {models.length === 0 ? <Empty>No registered models.</Empty> : models.map((m) => (
        <article class="card" key={m.name}>
          <h2>{m.name}</h2>
          {(m.aliases ?? []).length > 0 && <p class="meta">aliases: {(m.aliases ?? []).map((a) => `${a.alias} → v${a.version}`).join(', ')}</p>}
          <ModelVersions tenant={tenant} name={m.name} />
        </article>
      ))}
    </section>
  );
};

// ---- deployments ----------------------------------------------------------------------------------------

interface Deployment { name: string; model: string; version: string; status: string; replicas: number }

const TryIt = ({ name }: { name: string }) => {
  const [result, setResult] = useState<unknown>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const example = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1], datatype: 'FP32', data: [1] }] }, null, 2);
  return (
    <form onSubmit={(e) => {
      e.preventDefault();
      setError(undefined);
      setResult(undefined);
      let body: unknown;
      try {
        body = JSON.parse((e.currentTarget.elements.namedItem('body') as HTMLTextAreaElement).value);
      } catch (parseError) {
        setError(new Error(`the request is not JSON: ${(parseError as Error).message}`));
        return;
      }
      request('POST', `/v2/models/${encodeURIComponent(name)}/infer`, body).then(setResult, setError);
    }}>
      <label for={`try-${name}`}>OIP v2 request for {name}</label>
      <textarea id={`try-${name}`} name="body" rows={7} cols={60} defaultValue={example} />
      <button type="submit">Send request</button>
      {error !== undefined && <ErrorBox error={error} />}
      {result !== undefined && <pre class="result" aria-label={`prediction of ${name}`}>{JSON.stringify(result, null, 2)}</pre>}
    </form>
  );
};

export const Deployments = ({ tenant }: { tenant: string }) => {
  const [list, error] = useLoad(() => request('GET', tenantApi(tenant, '/deployments')) as Promise<{ deployments: Deployment[] }>, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="deployments" />;
  return (
    <section>
      <h1>Deployments</h1>
      {list.deployments.length === 0 ? <Empty>No deployments.</Empty> : list.deployments.map((d) => (
        <article class="card" key={d.name}>
          <h2>{d.name}</h2>
          <p class="meta">model {d.model} v{d.version} · <span class={`status status-${d.status}`}>{d.status}</span> · {d.replicas} replicas</p>
          <DeploymentLive tenant={tenant} name={d.name} />
          <TryIt name={d.name} />
        </article>
      ))}
    </section>
  );
};

// ---- usage against quota --------------------------------------------------------------------------------

const Gauge = ({ label, used, limit, unit }: { label: string; used: number; limit: number; unit: string }) => (
  <div class="gauge">
    <label>
      <span>{label}</span>
      <meter min={0} max={limit > 0 ? limit : 1} value={used} high={limit * 0.8} optimum={0} aria-label={`${label}: ${used} of ${limit} ${unit}`} />
      <span class="meta">{Number(used.toFixed(2))} / {limit} {unit}</span>
    </label>
  </div>
);

export const Usage = ({ tenant }: { tenant: string }) => {
  const [data, error] = useLoad(async () => {
    const [usage, quota, jobs] = await Promise.all([
      request('GET', tenantApi(tenant, '/usage')),
      request('GET', tenantApi(tenant, '/quota')),
      request('GET', tenantApi(tenant, '/jobs')) as Promise<{ jobs: Job[] }>,
    ]);
    return { usage, quota, jobs: jobs.jobs };
  }, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (data === undefined) return <Loading what="usage" />;
  const running = data.jobs.filter((j) => j.status === 'running');
  const queued = data.jobs.filter((j) => j.status === 'queued' || j.status === 'pending');
  const sum = (pick: (j: Job) => number) => running.reduce((n, j) => n + pick(j), 0);
  const seconds = Math.max(1, (Date.parse(data.usage.to) - Date.parse(data.usage.from)) / 1000);
  return (
    <section>
      <h1>Usage against quota</h1>
      <div class="gauges">
        <Gauge label="CPU in use" used={sum((j) => j.resources.cpu)} limit={data.quota.cpu} unit="cores" />
        <Gauge label="Memory in use" used={sum((j) => j.resources.memoryMiB)} limit={data.quota.memoryMiB} unit="MiB" />
        <Gauge label="GPUs in use" used={sum((j) => j.resources.gpu)} limit={data.quota.gpu} unit="GPUs" />
        <Gauge label="Storage" used={data.usage.storageBytes.used} limit={data.usage.storageBytes.quota} unit="bytes" />
        <Gauge label="Running jobs" used={running.length} limit={data.quota.maxConcurrentJobs} unit="jobs" />
        <Gauge label="Queued jobs" used={queued.length} limit={data.quota.maxQueuedJobs} unit="jobs" />
        <Gauge label="Request rate (average over the period)" used={(data.usage.totals.apiRequests + data.usage.totals.inferenceRequests) / seconds} limit={data.quota.requestsPerSecond} unit="req/s" />
      </div>
      <p class="meta">Metered from {when(data.usage.from)} to {when(data.usage.to)}.</p>
    </section>
  );
};

// ---- audit log ------------------------------------------------------------------------------------------

interface AuditEvent { id?: number; seq?: number; occurredAt: string; actor: string; action: string; target: string; outcome: string; requestId: string }

export const Audit = ({ tenant }: { tenant: string }) => {
  const [filter, setFilter] = useState({ action: '', outcome: '' });
  const [data, error] = useLoad(async () => {
    const [page, verify] = await Promise.all([
      request('GET', `${tenantApi(tenant, '/audit')}?limit=500`) as Promise<{ events: AuditEvent[] }>,
      request('GET', tenantApi(tenant, '/audit/verify')) as Promise<{ ok: boolean; eventsChecked: number; problems: Array<{ message: string }> }>,
    ]);
    return { page, verify };
  }, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (data === undefined) return <Loading what="the audit log" />;
  const events = data.page.events.filter((e) => e.action.includes(filter.action) && (filter.outcome === '' || e.outcome === filter.outcome));
  return (
    <section>
      <h1>Audit log</h1>
      <p role="status" class={data.verify.ok ? 'ok' : 'error'}>
        Chain verification: {data.verify.ok ? `intact (${data.verify.eventsChecked} events checked)` : `FAILED: ${data.verify.problems.map((p) => p.message).join('; ')}`}
      </p>
      <div class="toolbar">
        <label for="audit-action">Action contains</label>
        <input id="audit-action" value={filter.action} onInput={(e) => setFilter({ ...filter, action: e.currentTarget.value })} />
        <label for="audit-outcome">Outcome</label>
        <select id="audit-outcome" value={filter.outcome} onChange={(e) => setFilter({ ...filter, outcome: e.currentTarget.value })}>
          <option value="">any</option><option value="success">success</option><option value="denied">denied</option><option value="failure">failure</option>
        </select>
      </div>
      {events.length === 0 ? <Empty>No events match.</Empty> : (
        <table>
          <caption>Latest audit events</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Request</th></tr></thead>
          <tbody>{events.map((e) => <tr><td>{when(e.occurredAt)}</td><td>{e.actor}</td><td>{e.action}</td><td>{e.target}</td><td>{e.outcome}</td><td>{e.requestId}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
};

// ---- platform admin: tenants ----------------------------------------------------------------------------

interface Tenant { id: string; slug: string; name: string; tier: string; status: string; quota?: { cpu: number; memoryMiB: number; gpu: number; storageBytes: number; maxConcurrentJobs: number }; usage?: { storageBytes: { used: number; quota: number } } }

export const AdminTenants = () => {
  const [list, error, reload] = useLoad(async () => {
    const { tenants } = (await request('GET', '/api/v1/tenants')) as { tenants: Tenant[] };
    // Quota and usage are the operator's to read (platform admin); a tenant's runs and artifacts are not.
    return { tenants: await Promise.all(tenants.map(async (t) => ({
      ...t,
      quota: await request('GET', `/api/v1/tenants/${encodeURIComponent(t.slug)}/quota`).catch(() => undefined),
      usage: await request('GET', `/api/v1/tenants/${encodeURIComponent(t.slug)}/usage`).catch(() => undefined),
    }))) };
  }, []);
  const [actionError, setActionError] = useState<unknown>(undefined);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="tenants" />;
  const setStatus = (t: Tenant, status: 'active' | 'suspended') => request('PATCH', `/api/v1/tenants/${encodeURIComponent(t.slug)}`, { status }).then(reload, setActionError);
  return (
    <section>
      <h1>Tenants</h1>
      <p class="meta">The operator's view: tiers, status and quotas. A tenant's experiments and artifacts are not reachable from here.</p>
      {actionError !== undefined && <ErrorBox error={actionError} />}
      <table>
        <caption>Tenants</caption>
        <thead><tr><th scope="col">Slug</th><th scope="col">Name</th><th scope="col">Tier</th><th scope="col">Status</th><th scope="col">Quota (CPU / MiB / GPU / jobs)</th><th scope="col">Storage used / quota</th><th scope="col">Action</th></tr></thead>
        <tbody>{list.tenants.map((t) => (
          <tr key={t.id}>
            <td>{t.slug}</td><td>{t.name}</td><td>{t.tier}</td><td>{t.status}</td>
            <td>{t.quota === undefined ? 'n/a' : `${t.quota.cpu} / ${t.quota.memoryMiB} / ${t.quota.gpu} / ${t.quota.maxConcurrentJobs}`}</td>
            <td>{t.usage === undefined ? 'n/a' : <meter min={0} max={Math.max(1, t.usage.storageBytes.quota)} value={t.usage.storageBytes.used} aria-label={`storage of ${t.slug}: ${t.usage.storageBytes.used} of ${t.usage.storageBytes.quota} bytes`} />}</td>
            <td>{t.status === 'suspended'
              ? <button type="button" onClick={() => void setStatus(t, 'active')}>Resume {t.slug}</button>
              : <button type="button" onClick={() => void setStatus(t, 'suspended')}>Suspend {t.slug}</button>}</td>
          </tr>
        ))}</tbody>
      </table>
    </section>
  );
};

// ---- datasets -------------------------------------------------------------------------------------------

interface Dataset { name: string; description: string; latestVersion: number | null; createdAt: string }
interface DatasetVersion { version: number; digest: string; fileCount: number; totalBytes: number; createdBy: string; createdAt: string }

const DatasetVersions = ({ tenant, name }: { tenant: string; name: string }) => {
  const [list, error] = useLoad(() => request('GET', tenantApi(tenant, `/datasets/${encodeURIComponent(name)}/versions`)) as Promise<{ versions: DatasetVersion[] }>, [tenant, name]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="versions" />;
  return list.versions.length === 0 ? <Empty>No versions.</Empty> : (
    <ul>{list.versions.map((v) => <li>v{v.version} · {v.fileCount} files · {v.totalBytes} bytes · {v.digest.slice(0, 16)}… · by {v.createdBy} · {when(v.createdAt)} · <Link to={`/ui/t/${tenant}/lineage/dataset/${encodeURIComponent(name)}/${v.version}`}>lineage of {name} v{v.version}</Link></li>)}</ul>
  );
};

export const Datasets = ({ tenant }: { tenant: string }) => {
  const [list, error] = useLoad(() => request('GET', tenantApi(tenant, '/datasets')) as Promise<{ datasets: Dataset[] }>, [tenant]);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (list === undefined) return <Loading what="datasets" />;
  return (
    <section>
      <h1>Datasets</h1>
      {list.datasets.length === 0 ? <Empty>No datasets.</Empty> : list.datasets.map((d) => (
        <article class="card" key={d.name}>
          <h2>{d.name}</h2>
          {d.description !== '' && <p>{d.description}</p>}
          <DatasetVersions tenant={tenant} name={d.name} />
        </article>
      ))}
    </section>
  );
};

// ---- tokens and members (tenant admins) -----------------------------------------------------------------

interface TokenRow { id: string; name: string; role: string; kind: string; prefix: string; createdAt: string; expiresAt: string | null; revokedAt: string | null }
interface MemberRow { user: { username: string; displayName: string }; role: string; createdAt: string }
const roles = ['viewer', 'member', 'admin', 'owner'] as const;

export const Access = ({ tenant }: { tenant: string }) => {
  const [data, error, reload] = useLoad(async () => {
    const [tokens, members] = await Promise.all([
      request('GET', tenantApi(tenant, '/tokens')) as Promise<{ tokens: TokenRow[] }>,
      request('GET', tenantApi(tenant, '/members')) as Promise<{ members: MemberRow[] }>,
    ]);
    return { tokens: tokens.tokens, members: members.members };
  }, [tenant]);
  // The new token is shown once, here, and kept only in this component's memory.
  const [created, setCreated] = useState<{ name: string; token: string } | undefined>(undefined);
  const [actionError, setActionError] = useState<unknown>(undefined);
  if (error !== undefined) return <ErrorBox error={error} />;
  if (data === undefined) return <Loading what="tokens and members" />;
  const value = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;
  return (
    <section>
      <h1>Tokens and members</h1>
      {actionError !== undefined && <ErrorBox error={actionError} />}
      <h2>Create a token</h2>
      <form class="toolbar" onSubmit={(e) => {
        e.preventDefault();
        const form = e.currentTarget;
        const name = value(form, 'token-name');
        request('POST', tenantApi(tenant, '/tokens'), { name, role: value(form, 'token-role') }).then((t: { token: string }) => {
          setCreated({ name, token: t.token });
          setActionError(undefined);
          form.reset();
          reload();
        }, setActionError);
      }}>
        <label for="token-name">Token name</label>
        <input id="token-name" name="token-name" required maxLength={100} />
        <label for="token-role">Role</label>
        <select id="token-role" name="token-role">{roles.map((r) => <option value={r}>{r}</option>)}</select>
        <button type="submit">Create token</button>
      </form>
      {created !== undefined && (
        <div class="notice" role="status">
          <p>Token <strong>{created.name}</strong> — copy it now, it is shown only once:</p>
          <pre aria-label="new token">{created.token}</pre>
          <button type="button" onClick={() => setCreated(undefined)}>I have copied it</button>
        </div>
      )}
      <table>
        <caption>Tokens</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Kind</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
        <tbody>{data.tokens.map((t) => (
          <tr key={t.id}>
            <td>{t.name}</td><td>{t.role}</td><td>{t.kind}</td><td><code>{t.prefix}</code></td><td>{when(t.createdAt)}</td>
            <td>{t.revokedAt !== null ? `revoked ${when(t.revokedAt)}` : (
              <button type="button" aria-label={`revoke token ${t.name}`} onClick={() => request('DELETE', tenantApi(tenant, `/tokens/${t.id}`)).then(reload, setActionError)}>Revoke</button>
            )}</td>
          </tr>
        ))}</tbody>
      </table>
      <h2>Members</h2>
      <table>
        <caption>Members</caption>
        <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Since</th></tr></thead>
        <tbody>{data.members.map((m) => <tr key={m.user.username}><td>{m.user.username}</td><td>{m.role}</td><td>{when(m.createdAt)}</td></tr>)}</tbody>
      </table>
    </section>
  );
};
