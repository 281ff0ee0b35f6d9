/**
 * A lock for one shared resource (the embedded database's single connection) whose waiters are served
 * round-robin by owner: each owner (a tenant, or the platform) has its own FIFO queue, and on release the
 * lock goes to the next owner in turn, not to the oldest waiter. A tenant with eight queued searches
 * therefore delays another tenant's request by at most one of them, not eight.
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

export const createFairLock = (): FairLock => {
  const queues = new Map<string, Waiter[]>();
  // Owners with waiters, in the order they will be served.
  const turn: string[] = [];
  let held = false;
  let closedWith: Error | undefined;
  let onIdle: (() => void) | undefined;

  const makeRelease = (): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held = false;
      next();
      if (!held) onIdle?.();
    };
  };

  const next = (): void => {
    const owner = turn.shift();
    if (owner === undefined) return;
    const queue = queues.get(owner)!;
    const waiter = queue.shift()!;
    if (queue.length > 0) turn.push(owner);
    else queues.delete(owner);
    held = true;
    waiter.grant(makeRelease());
  };

  return {
    acquire(owner) {
      if (closedWith !== undefined) return Promise.reject(closedWith);
      if (!held) {
        held = true;
        return Promise.resolve(makeRelease());
      }
      return new Promise((grant, fail) => {
        const queue = queues.get(owner);
        if (queue === undefined) {
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
