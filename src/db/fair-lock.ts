/**
 * A lock for one shared resource (the embedded database's single connection) shared fairly by the time
 * each owner (a tenant, or `''` for the platform) holds it — start-time fair queuing: every owner has its
 * own FIFO queue and a virtual time, the milliseconds it has held the lock; on release the lock goes to the
 * waiting owner with the least virtual time (ties: round-robin). An owner whose transactions take seconds
 * therefore waits behind many short operations of others, and a tenant with a few quick reads does not
 * wait behind each of another tenant's long searches in turn. An owner that starts waiting is brought up
 * to the virtual time of the last grant, so being idle banks no credit.
 */

export interface FairLock {
  /** Resolves with a release function once `owner` holds the lock. Rejects once the lock is closed. */
  acquire(owner: string): Promise<() => void>;
  /** True while someone holds the lock. */
  readonly held: boolean;
  /**
   * Rejects every waiter with `error`; later acquires reject with it too. The holder keeps the lock: the
   * returned promise resolves when it releases it (at once when nobody holds it).
   */
  close(error: Error): Promise<void>;
}

interface Waiter {
  grant: (release: () => void) => void;
  fail: (error: Error) => void;
}

export const createFairLock = (now: () => number = () => performance.now()): FairLock => {
  const queues = new Map<string, Waiter[]>();
  // Owners with waiters, in round-robin order (the tie-break).
  const turn: string[] = [];
  const virtualTime = new Map<string, number>();
  let lastGrantTime = 0;
  let held = false;
  let closedWith: Error | undefined;
  let onIdle: (() => void) | undefined;

  const grantTo = (owner: string, grant: (release: () => void) => void): void => {
    held = true;
    lastGrantTime = Math.max(lastGrantTime, virtualTime.get(owner) ?? 0);
    const since = now();
    let released = false;
    grant(() => {
      if (released) return;
      released = true;
      virtualTime.set(owner, (virtualTime.get(owner) ?? 0) + (now() - since));
      held = false;
      next();
      if (!held) onIdle?.();
    });
  };

  const next = (): void => {
    if (turn.length === 0) return;
    let chosen = 0;
    for (let i = 1; i < turn.length; i += 1) {
      if ((virtualTime.get(turn[i]!) ?? 0) < (virtualTime.get(turn[chosen]!) ?? 0)) chosen = i;
    }
    const owner = turn.splice(chosen, 1)[0]!;
    const queue = queues.get(owner)!;
    const waiter = queue.shift()!;
    if (queue.length > 0) turn.push(owner);
    else queues.delete(owner);
    grantTo(owner, waiter.grant);
  };

  const enter = (owner: string): void => {
    // No credit for having been idle: start from where the lock's time is now.
    virtualTime.set(owner, Math.max(virtualTime.get(owner) ?? 0, lastGrantTime));
  };

  return {
    acquire(owner) {
      if (closedWith !== undefined) return Promise.reject(closedWith);
      if (!held) {
        enter(owner);
        return new Promise((grant) => grantTo(owner, grant));
      }
      return new Promise((grant, fail) => {
        const queue = queues.get(owner);
        if (queue === undefined) {
          enter(owner);
          queues.set(owner, [{ grant, fail }]);
          turn.push(owner);
        } else {
          queue.push({ grant, fail });
        }
      });
    },
    get held() {
      return held;
    },
    close(error) {
      closedWith = error;
      for (const queue of queues.values()) for (const waiter of queue) waiter.fail(error);
      queues.clear();
      turn.length = 0;
      return held ? new Promise((resolve) => { onIdle = resolve; }) : Promise.resolve();
    },
  };
};
