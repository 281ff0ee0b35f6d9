/**
 * `bulkhead image import|pull|list|delete|login|logout` (issue 17): OCI images for jobs, in the tenant's private store or,
 * with --public (platform admins), the platform-wide one. The archive is streamed, never buffered.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import { parseImageReference } from '../contract/image-schemas.ts';
import { rawRequest } from './data-commands.ts';
import type { CommandContext } from './program.ts';
import { table } from './output.ts';

interface ImageView {
  name: string;
  tag: string | null;
  digest: string;
  sizeBytes: number;
  scope: string;
}

export const registerImageCommands = (program: Command, ctx: CommandContext): void => {
  const image = program.command('image').description('OCI images that jobs run on');
  const basePath = async (o: { tenant?: string; public?: boolean }): Promise<string> =>
    (o.public === true ? '/api/v1/images' : `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/images`);

  image
    .command('import <file>')
    .description('import an OCI image layout or `docker save` tar: bulkhead image import img.tar --tenant acme --name torch:2.3')
    .requiredOption('--name <name:tag>', 'the name (and tag, default latest) to store it under')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--public', 'into the platform-wide public store (platform admins)')
    .action(async (file: string, o: { name: string; tenant?: string; public?: boolean }) => {
      const ref = parseImageReference(o.name);
      if (ref === undefined || ref.tag === undefined) throw new AppError('VALIDATION_FAILED', `--name wants NAME[:TAG], got '${o.name}'`);
      const size = (await stat(file)).size;
      const query = `?name=${encodeURIComponent(ref.name)}&tag=${encodeURIComponent(ref.tag)}`;
      const response = await rawRequest(ctx, 'POST', `${await basePath(o)}${query}`, {
        body: createReadStream(file), headers: { 'content-type': 'application/x-tar', 'content-length': String(size) },
      });
      const created = (await response.json()) as ImageView;
      ctx.print(created, () => `imported ${created.name}:${created.tag ?? ''} ${created.digest} (${created.sizeBytes} bytes, ${created.scope})`);
    });

  image
    .command('list')
    .description("the tenant's images and the public ones (or only the public ones with --public)")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--public', 'only the platform-wide public store')
    .action(async (o: { tenant?: string; public?: boolean }) => {
      const { images } = await ctx.client().request<{ images: ImageView[] }>('GET', await basePath(o));
      ctx.print(images, () => table(images.map((i) => ({ ...i, tag: i.tag ?? '<untagged>' })), ['name', 'tag', 'digest', 'sizeBytes', 'scope']));
    });

  image
    .command('default [ref]')
    .description("show the tenant's default image, set it (jobs without --image run on it), or --clear it")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--clear', 'remove the default: jobs without --image run on the host\'s /usr')
    .action(async (ref: string | undefined, o: { tenant?: string; clear?: boolean }) => {
      const path = `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/image-default`;
      const result = ref === undefined && o.clear !== true
        ? await ctx.client().request<{ image: string | null }>('GET', path)
        : await ctx.client().request<{ image: string | null }>('PUT', path, { image: o.clear === true ? null : ref });
      ctx.print(result, () => `default image: ${result.image ?? 'none (the host\'s /usr)'}`);
    });

  image
    .command('delete <ref>')
    .description('remove name:tag (its digest goes when no tag is left) or name@sha256:… from the store')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--public', 'from the platform-wide public store (platform admins)')
    .action(async (ref: string, o: { tenant?: string; public?: boolean }) => {
      await ctx.client().request('DELETE', `${await basePath(o)}/${encodeURIComponent(ref)}`);
      ctx.print({ deleted: ref }, () => `deleted ${ref}`);
    });

  image
    .command('pull <reference>')
    .description('pull from a registry the operator configured: bulkhead image pull registry.example.com/team/torch:2.3 --tenant acme')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .option('--as <name:tag>', "the local name:tag (default: the repository's last component and the tag)")
    .action(async (reference: string, o: { tenant?: string; as?: string }) => {
      const path = `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/images/pull`;
      const pulled = await ctx.client().request<ImageView & { pulledFrom: string }>('POST', path, { reference, ...(o.as === undefined ? {} : { as: o.as }) });
      ctx.print(pulled, () => `pulled ${pulled.pulledFrom} as ${pulled.name}:${pulled.tag ?? ''}  ${pulled.digest}  (${pulled.sizeBytes} bytes)`);
    });

  image
    .command('login <registry>')
    .description("store the tenant's credentials for a configured registry; the password is read from stdin (never an argument)")
    .requiredOption('--username <name>', 'the registry user')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (registry: string, o: { tenant?: string; username: string }) => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      if (password === '') throw new AppError('VALIDATION_FAILED', 'pass the registry password on stdin');
      const path = `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/registry-credentials/${encodeURIComponent(registry)}`;
      const saved = await ctx.client().request<{ registry: string; username: string }>('PUT', path, { username: o.username, password });
      ctx.print(saved, () => `credentials for ${saved.registry} stored (user ${saved.username})`);
    });

  image
    .command('logout <registry>')
    .description("delete the tenant's credentials for a registry")
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (registry: string, o: { tenant?: string }) => {
      await ctx.client().request('DELETE', `${ctx.tenantPath(await ctx.resolveTenant(o.tenant))}/registry-credentials/${encodeURIComponent(registry)}`);
      ctx.print({ deleted: registry }, () => `credentials for ${registry} deleted`);
    });
};
