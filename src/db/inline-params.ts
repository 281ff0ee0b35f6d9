/**
 * Inlines `$n` parameters of trusted, static SQL as quoted literals, for the one-message scoped read.
 * Every value becomes a standard-conforming string literal (quotes doubled; backslashes doubled with an
 * E prefix), so PostgreSQL types it from context exactly as an untyped bind parameter. Returns undefined
 * when a value cannot be inlined safely (NUL bytes, arrays, objects, buffers): callers then bind.
 * Never use it on SQL that contains `$` inside its own string literals.
 */
export const inlineParams = (sql: string, params: readonly unknown[]): string | undefined => {
  const literals: string[] = [];
  for (const value of params) {
    if (value === null || value === undefined) {
      literals.push('NULL');
      continue;
    }
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
    else if (typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
    else return undefined;
    if (text.includes('\0')) return undefined;
    const hasBackslash = text.includes('\\');
    const quoted = `'${text.replaceAll("'", "''").replaceAll('\\', '\\\\')}'`;
    literals.push(hasBackslash ? `E${quoted}` : quoted);
  }
  let failed = false;
  const out = sql.replace(/\$(\d+)/g, (_match, index: string) => {
    const literal = literals[Number(index) - 1];
    if (literal === undefined) failed = true;
    return literal ?? '';
  });
  return failed ? undefined : out;
};
