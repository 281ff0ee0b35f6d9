#!/usr/local/bin/node --initial-old-space-size=512
// The `bulkhead` command of the platform image (containers/platform.Containerfile): bin/bulkhead without a
// shell. The server's start-up node flags (src/main/server-node-flags.ts) come from here and from the
// image's NODE_OPTIONS: a shebang passes what follows the interpreter as one argument, so it holds one flag,
// and NODE_OPTIONS refuses that one (--initial-old-space-size) but takes the others (a test keeps the two
// together equal to the list). The image's node runs the TypeScript sources by type stripping, as node_modules/.bin/node does
// in a checkout; argv is unchanged, so the CLI sees its arguments from process.argv[2] on.
await import('../src/main/cli.ts');
