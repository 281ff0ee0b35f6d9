/**
 * A `node --test` reporter for scripts/run-tests.ts: one JSON line per failed test (`fail`, with its file)
 * and one per test file whose process printed V8's JIT-page CHECK abort (`abort`). Nothing else.
 */
const V8_JIT_PAGE_ABORT = /Check failed: jit_page/;

interface ReporterEvent {
  type: string;
  data: { file?: string; message?: string };
}

// node --test loads a reporter from its default export.
// eslint-disable-next-line no-restricted-syntax
export default async function* v8AbortReporter(source: AsyncIterable<ReporterEvent>): AsyncGenerator<string> {
  const abortedFiles = new Set<string>();
  for await (const event of source) {
    const file = event.data.file;
    if (file === undefined) continue;
    if (event.type === 'test:stderr' && typeof event.data.message === 'string' && V8_JIT_PAGE_ABORT.test(event.data.message) && !abortedFiles.has(file)) {
      abortedFiles.add(file);
      yield `${JSON.stringify({ kind: 'abort', file })}\n`;
    } else if (event.type === 'test:fail') {
      yield `${JSON.stringify({ kind: 'fail', file })}\n`;
    }
  }
}
