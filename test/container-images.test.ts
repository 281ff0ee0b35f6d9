/**
 * The images the Kubernetes manifests name by default are the images containers/build builds, from
 * Containerfiles that pin their base, run as the manifests' non-root uid and keep the promises of
 * docs/kubernetes.md section 2.4. No container engine runs here: this reads the files, it builds nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { createClusterConfig } from '../src/executors/kubernetes/index.ts';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const buildScript = read('containers/build');

/** The names `containers/build` gives its images with no REGISTRY or TAG set, by Containerfile. */
const builtImages = (): Map<string, string> => {
  const registry = /^registry=\$\{REGISTRY:-([^}]+)\}$/m.exec(buildScript)?.[1];
  const tag = /^tag=\$\{TAG:-([^}]+)\}$/m.exec(buildScript)?.[1];
  assert.ok(registry !== undefined && tag !== undefined, 'containers/build has default REGISTRY and TAG');
  const images = new Map<string, string>();
  for (const [, name, file] of buildScript.matchAll(/^build (\S+)\s+(\S+\.Containerfile)$/gm)) images.set(file!, `${registry}/${name}:${tag}`);
  return images;
};

test("the manifests' default images are what containers/build builds", () => {
  const config = createClusterConfig({});
  const images = builtImages();
  assert.equal(images.get('platform.Containerfile'), config.platformImage);
  assert.equal(images.get('job-runner.Containerfile'), config.jobImage);
  assert.equal(images.size, 2);
  assert.ok((statSync(new URL('../containers/build', import.meta.url)).mode & 0o111) !== 0, 'containers/build is executable');
});

test('each Containerfile pins its base, runs as the manifests\' non-root uid, and labels its image name', () => {
  const config = createClusterConfig({});
  for (const [file, image] of builtImages()) {
    const text = read(`containers/${file}`);
    const name = image.slice(image.lastIndexOf('/') + 1, image.lastIndexOf(':'));
    // Every base is an ARG default with an exact x.y.z version tag (or a digest), used by every FROM.
    const bases = [...text.matchAll(/^ARG (\w+_IMAGE)=(\S+)$/gm)];
    assert.ok(bases.length > 0, `${file}: base image as an ARG`);
    for (const [, , ref] of bases) assert.match(ref!, /(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$/, `${file}: ${ref} is pinned`);
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length > 0 && froms.every((from) => bases.some(([, arg]) => from === `\${${arg}}`)), `${file}: every FROM uses a pinned ARG`);
    // The last USER is numeric, not root, and the manifests' runAsUser.
    const users = [...text.matchAll(/^USER (\d+):(\d+)$/gm)];
    assert.deepEqual(users.at(-1)?.slice(1), [String(config.runAsUser), String(config.runAsUser)], `${file}: USER ${config.runAsUser}`);
    assert.notEqual(config.runAsUser, 0);
    assert.match(text, new RegExp(`org\\.opencontainers\\.image\\.title="${name}"`), `${file}: title label ${name}`);
    assert.doesNotMatch(text, /^ADD /m, `${file}: COPY only, no remote ADD`);
  }
});

test('the platform image needs no shell: exec-form entrypoint, a node-shebang bulkhead, every shell removed', () => {
  const text = read('containers/platform.Containerfile');
  assert.match(text, /^ENTRYPOINT \["\/usr\/local\/bin\/bulkhead"\]$/m);
  // The node shebang may carry one start-up flag (server-node-flags.test.ts checks which).
  assert.match(read('containers/bulkhead-entry.mjs'), /^#!\/usr\/local\/bin\/node( --[a-z-]+=\d+)?\n/);
  for (const shell of ['/bin/sh', '/bin/bash', '/bin/dash']) assert.ok(text.includes(` ${shell}`), `removes ${shell}`);
  // The manifests call `bulkhead` by name: the image links it onto PATH.
  assert.match(text, /ln -s \/opt\/bulkhead\/bin\/bulkhead\.mjs \/usr\/local\/bin\/bulkhead/);
});
