/** Printing for the CLI: JSON with `--json`, otherwise aligned columns a person can read. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

export const table = (rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string => {
  if (rows.length === 0) return '(none)';
  const cell = (value: unknown): string => (value === null || value === undefined ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: readonly string[]) => values.map((value, i) => value.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((row) => line(columns.map((c) => cell(row[c]))))].join('\n');
};

export const keyValues = (record: Record<string, unknown>): string => {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(([key, value]) => `${key.padEnd(width)}  ${value === null || value === undefined ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join('\n');
};
