import { render } from 'preact';
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { ApiError, onUnauthenticated, request, setCsrf, setWorkspace } from './api.ts';
import type { Session, SessionState } from './api.ts';
import { AdminScheduler } from './live.tsx';
import { Access, AdminTenants, Audit, Datasets, Deployments, Experiments, JobPage, Jobs, Models, Usage } from './pages.tsx';
import { ComparePage, RunPage, RunsPage } from './runs.tsx';
import { DatasetLineagePage, ModelLineagePage } from './lineage.tsx';
import { ErrorBox, Link, Loading, navigate, setPathListener } from './common.tsx';

// ---- sign-in --------------------------------------------------------------------------------------------

const home = (session: Session): string => (session.kind === 'platform_admin' ? '/ui/admin/tenants' : `/ui/t/${session.tenant?.slug ?? ''}/experiments`);

interface TenantChoice { slug: string; name: string; status: string; role: string }

const SignIn = ({ onSession, notice }: { onSession: (s: Session) => void; notice?: string | undefined }) => {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  // A user of several tenants: the tenants the server listed after checking the password, to pick from.
  const [choices, setChoices] = useState<TenantChoice[] | undefined>(undefined);
  const next = new URLSearchParams(location.search).get('next');
  const submit = (body: Record<string, string>) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const answer = (await request('POST', '/ui/api/session', body)) as Session | { signedIn: false; reason: 'choose_tenant'; tenants: TenantChoice[] };
      if ('reason' in answer && answer.reason === 'choose_tenant') {
        setChoices(answer.tenants);
        return;
      }
      const session = answer as Session;
      onSession(session);
      navigate(next !== null && next.startsWith('/ui/t/') ? next : home(session));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const field = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value ?? '';
  // A deep link into a tenant preselects it.
  const linked = next?.match(/^\/ui\/t\/([^/?#]+)/)?.[1];
  return (
    <main class="signin">
      <h1>Sign in to Bulkhead</h1>
      {notice !== undefined && <p class="notice" role="status">{notice}</p>}
      {error !== undefined && <ErrorBox error={error} />}
      <form onSubmit={(e) => void submit({ token: field(e.currentTarget, 'token') })(e)}>
        <label for="token">Access token</label>
        <input id="token" name="token" type="password" autocomplete="off" required />
        <button type="submit" disabled={busy}>Sign in with token</button>
      </form>
      <form onSubmit={(e) => {
        const form = e.currentTarget;
        const tenant = field(form, 'tenant');
        void submit({ username: field(form, 'username'), password: field(form, 'password'), ...(tenant === '' ? {} : { tenant }) })(e);
      }}>
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required onInput={() => setChoices(undefined)} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        {choices !== undefined && (
          <>
            <p role="status">You are a member of several tenants: pick one.</p>
            <label for="tenant">Tenant</label>
            <select id="tenant" name="tenant" required>
              {choices.map((t) => <option key={t.slug} value={t.slug} selected={t.slug === linked}>{t.slug} — {t.name} ({t.role}{t.status === 'active' ? '' : `, ${t.status}`})</option>)}
            </select>
          </>
        )}
        <button type="submit" disabled={busy}>Sign in with password</button>
      </form>
    </main>
  );
};

// ---- layout ---------------------------------------------------------------------------------------------

const themeKey = 'bulkhead-theme';
const applyTheme = (theme: string) => document.documentElement.setAttribute('data-theme', theme);

const Shell = ({ session, tenant, path, onSignOut, children }: { session: Session; tenant: string | undefined; path: string; onSignOut: () => void; children: ComponentChildren }) => {
  const [theme, setTheme] = useState(() => localStorage.getItem(themeKey) ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem(themeKey, theme);
  }, [theme]);
  const nav = tenant === undefined
    ? [['Tenants', '/ui/admin/tenants'], ['Scheduler', '/ui/admin/scheduler']]
    : [['Experiments', 'experiments'], ['Jobs', 'jobs'], ['Models', 'models'], ['Datasets', 'datasets'], ['Deployments', 'deployments'], ['Usage', 'usage'], ['Audit log', 'audit'], ['Access', 'access']].map(([label, page]) => [label!, `/ui/t/${tenant}/${page}`]);
  return (
    <>
      <a class="skip" href="#content">Skip to content</a>
      <header>
        <span class="brand">Bulkhead</span>
        <nav aria-label="Main">
          {nav.map(([label, to]) => <Link key={to} to={to!} {...(path.startsWith(to!) ? { 'aria-current': 'page' as const } : {})}>{label}</Link>)}
        </nav>
        <span class="who">{session.actor}{session.tenant === undefined ? '' : ` · ${session.tenant.slug}`}</span>
        <button type="button" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>{theme === 'dark' ? 'Light' : 'Dark'} theme</button>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <main id="content" tabIndex={-1}>{children}</main>
    </>
  );
};

const NotFound = ({ what }: { what: string }) => (
  <div class="error" role="alert"><strong>Not found</strong><p>{what}</p></div>
);

// ---- the app --------------------------------------------------------------------------------------------

const route = (path: string, session: Session): ComponentChildren => {
  const url = new URL(path, location.origin);
  const parts = url.pathname.replace(/^\/ui\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  if (parts[0] === 'admin') {
    if (session.kind !== 'platform_admin') return <NotFound what="This page is for platform admins." />;
    if (parts[1] === 'scheduler') return <AdminScheduler />;
    return <AdminTenants />;
  }
  if (parts[0] !== 't' || parts[1] === undefined) return <NotFound what="No such page." />;
  const tenant = parts[1];
  // Another tenant in the path: not found, exactly as the API answers (nothing says whether it exists).
  if (session.tenant === undefined || (tenant !== session.tenant.slug && tenant !== session.tenant.id)) {
    return <NotFound what={`Tenant '${tenant}' was not found.`} />;
  }
  const [page, id] = [parts[2] ?? 'experiments', parts[3]];
  switch (page) {
    case 'experiments': return id === undefined ? <Experiments tenant={tenant} /> : <RunsPage tenant={tenant} experimentId={id} query={url.searchParams} />;
    case 'runs': return id === undefined ? <NotFound what="No run given." /> : <RunPage tenant={tenant} runId={id} />;
    case 'compare': return <ComparePage tenant={tenant} runIds={(url.searchParams.get('runs') ?? '').split(',').filter((r) => r !== '')} />;
    case 'jobs': return id === undefined ? <Jobs tenant={tenant} /> : <JobPage tenant={tenant} jobId={id} />;
    case 'models': return <Models tenant={tenant} />;
    case 'datasets': return <Datasets tenant={tenant} />;
    case 'lineage': {
      const [kind, name, version] = [parts[3], parts[4], parts[5]];
      if (name === undefined || version === undefined) return <NotFound what="No such lineage." />;
      return kind === 'dataset' ? <DatasetLineagePage tenant={tenant} name={name} version={version} /> : <ModelLineagePage tenant={tenant} name={name} version={version} />;
    }
    case 'access': return <Access tenant={tenant} />;
    case 'deployments': return <Deployments tenant={tenant} />;
    case 'usage': return <Usage tenant={tenant} />;
    case 'audit': return <Audit tenant={tenant} />;
    default: return <NotFound what="No such page." />;
  }
};

const App = () => {
  const [path, setPathState] = useState(location.pathname + location.search);
  // undefined: asking the server; null: signed out.
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  setPathListener(setPathState);
  useEffect(() => {
    const pop = () => setPathState(location.pathname + location.search);
    addEventListener('popstate', pop);
    onUnauthenticated((error) => {
      setCsrf(undefined);
      setNotice(`You are signed out: ${error.message}`);
      setSession(null);
    });
    request('GET', '/ui/api/session').then((s: SessionState) => {
      if (!s.signedIn) {
        if (s.reason !== 'none') setNotice(`You are signed out: ${s.message}`);
        setSession(null);
        return;
      }
      setCsrf(s.csrf);
      setSession(s);
    }, (error: unknown) => {
      setNotice(error instanceof ApiError ? `${error.message} (${error.code}${error.requestId === undefined ? '' : `, request id ${error.requestId}`})` : String(error));
      setSession(null);
    });
    return () => removeEventListener('popstate', pop);
  }, []);
  const tenant = session?.tenant?.slug;
  useEffect(() => setWorkspace(tenant), [tenant]);
  useEffect(() => {
    const title = path.replace(/^\/ui\/?(t\/[^/]+\/)?/, '').split(/[/?]/)[0] || 'console';
    document.title = `${title} · Bulkhead`;
  }, [path]);

  if (session === undefined) return <Loading what="your session" />;
  if (session === null) {
    return <SignIn notice={notice} onSession={(s) => {
      setCsrf(s.csrf);
      setNotice(undefined);
      setSession(s);
    }} />;
  }
  if (path === '/ui' || path === '/ui/' || path.startsWith('/ui/signin')) {
    queueMicrotask(() => navigate(home(session)));
    return <Loading what="your tenant" />;
  }
  const signOut = () => {
    void request('DELETE', '/ui/api/session').finally(() => {
      setCsrf(undefined);
      setNotice('You signed out.');
      setSession(null);
      navigate('/ui/');
    });
  };
  return <Shell session={session} tenant={tenant} path={path} onSignOut={signOut}>{route(path, session)}</Shell>;
};

applyTheme(localStorage.getItem(themeKey) ?? 'light');
render(<App />, document.getElementById('app')!);
