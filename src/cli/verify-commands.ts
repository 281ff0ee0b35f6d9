import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import { renderJunit, renderText, startVerify, verifyGroups } from '../verify/index.ts';
import type { VerifyGroup } from '../verify/index.ts';
import type { CommandContext } from './program.ts';

const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

/** `bulkhead verify`: the isolation conformance suite against a live deployment (docs/verify.md). */
export const registerVerifyCommands = (program: Command, ctx: CommandContext): void => {
  program
    .command('verify')
    .description("attack this deployment as a hostile tenant would (two short-lived verify- tenants, deleted at the end) and report what held; exit 1 when a check failed. Needs a platform-admin token")
    .option('--only <groups>', `groups to run: ${verifyGroups.join(',')}`, 'api,data,compute,serving,audit')
    .option('--tier <tiers>', 'isolation tiers the compute group probes', 'sandbox')
    // `--json` is the program's own flag (parsed before this command's options): `--json FILE` leaves FILE
    // here as the argument. With a file the JSON goes there and the tables to stdout; without, JSON to stdout.
    .argument('[file]', 'with --json: write the report there as JSON (schema bulkhead.verify/v1)')
    .option('--junit <file>', 'write JUnit XML')
    .option('--keep', 'keep the verify tenants (for inspection); a later run deletes them')
    .option('--database-url <url>', "the platform's PostgreSQL connection string (its login role): data checks the catalog")
    .option('--storage-path <dir>', 'where the deployment stores blobs ($BULKHEAD_HOME/blobs): data looks for plaintext there')
    .option('--platform-home <dir>', "the platform's home on the job host: compute probes try to read it")
    .option('--probe-timeout <seconds>', 'time limit of each compute probe job', '60')
    .option('--verbose', 'list every passing route check')
    .option('--bench', 'tiers: measure the isolation-tier trade-off table (start, teardown, CPU and memory overhead per tier; adds the tiers group)')
    .option('--bench-rounds <n>', 'jobs per tier for --bench (median)', '3')
    .option('--kubernetes', "compute: the namespace checks over each verify tenant's rendered Kubernetes bundle (live-cluster probes are reported as skipped)")
    .action(async (jsonFile: string | undefined, options: { only: string; tier: string; junit?: string; keep?: boolean; kubernetes?: boolean; databaseUrl?: string; storagePath?: string; platformHome?: string; probeTimeout: string; verbose?: boolean; bench?: boolean; benchRounds: string }) => {
      const settings = ctx.settings();
      if (jsonFile !== undefined && !ctx.json()) throw new AppError('VALIDATION_FAILED', `unexpected argument '${jsonFile}': to write JSON to a file, pass --json ${jsonFile}`);
      if (settings.url === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL: pass --url, set BULKHEAD_URL, or run `bulkhead login`');
      if (settings.token === undefined) throw new AppError('UNAUTHENTICATED', 'no token: pass --token (a platform-admin token) or set BULKHEAD_TOKEN');
      const groups = list(options.only);
      if (options.bench === true && !groups.includes('tiers')) groups.push('tiers');
      const benchRounds = Number(options.benchRounds);
      if (!Number.isInteger(benchRounds) || benchRounds < 1 || benchRounds > 20) throw new AppError('VALIDATION_FAILED', '--bench-rounds is 1 to 20');
      const unknown = groups.filter((g) => !(verifyGroups as readonly string[]).includes(g));
      if (unknown.length > 0) throw new AppError('VALIDATION_FAILED', `unknown group(s) ${unknown.join(', ')}: choose from ${verifyGroups.join(', ')}`);
      const probeTimeoutSeconds = Number(options.probeTimeout);
      if (!Number.isInteger(probeTimeoutSeconds) || probeTimeoutSeconds < 5 || probeTimeoutSeconds > 600) throw new AppError('VALIDATION_FAILED', '--probe-timeout is 5 to 600 seconds');
      const run = startVerify({
        url: settings.url, token: settings.token, groups: groups as VerifyGroup[], tiers: list(options.tier), keep: options.keep === true,
        databaseUrl: options.databaseUrl ?? ctx.env['BULKHEAD_VERIFY_DATABASE_URL'], storagePath: options.storagePath, platformHome: options.platformHome,
        kubernetes: options.kubernetes === true, bench: options.bench === true, benchRounds,
        probeTimeoutSeconds, log: (line) => ctx.io.err(`verify: ${line}`),
      });
      // Interrupted: delete what this run made before exiting (a later run removes anything left).
      const interrupt = () => {
        ctx.io.err('verify: interrupted, cleaning up');
        void run.cleanup().finally(() => process.exit(130));
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const report = await run.result;
        if (options.junit !== undefined) writeFileSync(options.junit, renderJunit(report));
        if (jsonFile === undefined) {
          ctx.print(report, () => renderText(report, { verbose: options.verbose === true }));
        } else {
          writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
          ctx.io.out(renderText(report, { verbose: options.verbose === true }));
        }
        if (report.summary.failed > 0) process.exitCode = 1;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
};
