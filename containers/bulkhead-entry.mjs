#!/usr/local/bin/node
// The `bulkhead` command of the platform image (containers/platform.Containerfile): bin/bulkhead without a
// shell. The image's node runs the TypeScript sources by type stripping, as node_modules/.bin/node does
// in a checkout; argv is unchanged, so the CLI sees its arguments from process.argv[2] on.
await import('../src/main/cli.ts');
