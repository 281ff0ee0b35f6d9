/**
 * Waiting for an event in tests, never for a fixed time: `waitFor` polls `probe` until it returns a value
 * other than `undefined` or `false` and returns it, or fails naming `what` after `timeoutMs` (generous:
 * CI may run on a loaded machine; a deadline only bounds a test that would otherwise hang).
 */
export const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 20): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
};
