import { setImmediate as nextTurn } from 'node:timers/promises';

/** Items of one array encoded between two turns of the event loop. */
export const JSON_SLICE_ITEMS = 100;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';

/**
 * The JSON of a response object, as `JSON.stringify` writes it, giving the event loop a turn between
 * slices of `sliceItems` items of every top-level array longer than that. One thread serves every tenant:
 * a 1,000-run search page is ≈ 0.7 MB of JSON, 4–6 ms of `JSON.stringify` in one piece plus its UTF-8
 * encoding when the socket writes it, and every other tenant's request that became ready meanwhile (a
 * socket read, a database answer) waited for all of it (issue 20 item 3). In slices, each slice is encoded
 * to UTF-8 at once and the slices are joined as bytes (joining a thousand strings into one was itself a
 * 1–1.5 ms hold), so another request waits for one slice at most.
 *
 * Small values (no array longer than a slice) are `JSON.stringify` in one piece, as a string. The bytes are
 * those of `JSON.stringify` (keys in order, `undefined` properties left out, `null` for an `undefined` item).
 */
export const encodeJsonInSlices = async (value: unknown, sliceItems = JSON_SLICE_ITEMS): Promise<string | Buffer> => {
  if (!isPlainObject(value) || !Object.values(value).some((v) => Array.isArray(v) && v.length > sliceItems)) return JSON.stringify(value);
  const chunks: Buffer[] = [];
  let text: string[] = [];
  const flush = (): void => {
    chunks.push(Buffer.from(text.join(''), 'utf8'));
    text = [];
  };
  text.push('{');
  let first = true;
  for (const [key, member] of Object.entries(value)) {
    const prefix = `${first ? '' : ','}${JSON.stringify(key)}:`;
    if (!Array.isArray(member) || member.length <= sliceItems) {
      const encoded = JSON.stringify(member) as string | undefined;
      // What JSON.stringify leaves out of an object: undefined, functions, symbols.
      if (encoded === undefined) continue;
      text.push(prefix, encoded);
      first = false;
      continue;
    }
    text.push(prefix, '[');
    first = false;
    for (let from = 0; from < member.length; from += sliceItems) {
      if (from > 0) {
        flush();
        await nextTurn();
      }
      const to = Math.min(member.length, from + sliceItems);
      for (let i = from; i < to; i += 1) text.push(i === 0 ? '' : ',', (JSON.stringify(member[i]) as string | undefined) ?? 'null');
    }
    text.push(']');
  }
  text.push('}');
  flush();
  return Buffer.concat(chunks);
};
