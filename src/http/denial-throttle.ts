/**
 * Bounds how many audit rows a flood of refused requests can write. Every refusal is still answered;
 * what is throttled is the audit row. Per key (tenant chain, action, reason, client address) the first
 * `burst` refusals of a window are audited one by one; the rest are counted, and when the window ends
 * one summary row per key says how many were left out. Without this, anyone on the network could grow
 * the append-only, hash-chained audit log (which is never pruned) by one row per request.
 *
 * Pure bookkeeping: the caller writes the rows. `now` is injectable for tests.
 */

export interface DenialKey {
  tenantId: string;
  actor: string;
  action: string;
  reason: string;
  source: string;
}

export interface SuppressedDenials extends DenialKey {
  count: number;
  windowStart: number;
  windowEnd: number;
}

export interface DenialThrottle {
  /** True when this refusal gets its own audit row; false when it is only counted. */
  admit(key: DenialKey): boolean;
  /** Ends the windows that are over (all of them with `all`) and returns what they left out. */
  drain(all?: boolean): SuppressedDenials[];
}

export interface DenialThrottleOptions {
  /** Audit rows per key per window. */
  burst?: number;
  windowMs?: number;
  /** Keys tracked at once; refusals beyond it are counted under one overflow key. */
  maxKeys?: number;
  now?: () => number;
}

interface Window {
  key: DenialKey;
  start: number;
  seen: number;
}

export const createDenialThrottle = (options: DenialThrottleOptions = {}): DenialThrottle => {
  const burst = options.burst ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  const ended: SuppressedDenials[] = [];

  const close = (id: string, window: Window, at: number): void => {
    windows.delete(id);
    if (window.seen > burst) ended.push({ ...window.key, count: window.seen - burst, windowStart: window.start, windowEnd: at });
  };

  return {
    admit(key) {
      const at = now();
      let id = [key.tenantId, key.actor, key.action, key.reason, key.source].join('\u0000');
      let window = windows.get(id);
      if (window !== undefined && at - window.start >= windowMs) {
        close(id, window, at);
        window = undefined;
      }
      if (window === undefined) {
        if (windows.size >= maxKeys) {
          // Too many distinct keys (many addresses or actors): count them together, audit none.
          id = 'overflow';
          window = windows.get(id);
          if (window === undefined) {
            window = { key: { tenantId: key.tenantId, actor: 'many', action: 'many', reason: 'many', source: 'many' }, start: at, seen: burst };
            windows.set(id, window);
          }
        } else {
          window = { key, start: at, seen: 0 };
          windows.set(id, window);
        }
      }
      window.seen += 1;
      return window.seen <= burst;
    },
    drain(all = false) {
      const at = now();
      for (const [id, window] of windows) if (all || at - window.start >= windowMs) close(id, window, at);
      return ended.splice(0, ended.length);
    },
  };
};
