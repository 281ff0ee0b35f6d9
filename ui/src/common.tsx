import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

// ---- routing: the path is the state, so deep links survive a reload -------------------------------------

let setPath: ((path: string) => void) | undefined;
export const setPathListener = (listener: (path: string) => void): void => {
  setPath = listener;
};
export const navigate = (to: string): void => {
  history.pushState(null, '', to);
  setPath?.(location.pathname + location.search);
  window.scrollTo(0, 0);
};

/** An in-app link: a real <a href> (middle-click, keyboard, copy link all work), navigated without reload. */
export const Link = ({ to, children, ...rest }: { to: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' }) => (
  <a href={to} {...rest} onClick={(event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(to);
  }}>{children}</a>
);

// ---- shared states --------------------------------------------------------------------------------------

export const Loading = ({ what }: { what: string }) => <p class="loading" role="status">Loading {what}…</p>;
export const Empty = ({ children }: { children: ComponentChildren }) => <p class="empty">{children}</p>;
export const ErrorBox = ({ error }: { error: unknown }) => {
  const api = error instanceof ApiError ? error : undefined;
  return (
    <div class="error" role="alert">
      <strong>{api?.status === 404 ? 'Not found' : 'Something went wrong'}</strong>
      <p>{error instanceof Error ? error.message : String(error)}</p>
      {api !== undefined && <p class="meta">code {api.code}{api.requestId === undefined ? '' : ` · request id ${api.requestId}`}</p>}
    </div>
  );
};

/** Loads `load()` whenever `deps` change: [value, error, reload]. */
export const useLoad = <T,>(load: () => Promise<T>, deps: unknown[]): [T | undefined, unknown, () => void] => {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setValue(undefined);
    setError(undefined);
    load().then((v) => live && setValue(v), (e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [value, error, () => setTick((t) => t + 1)];
};

