/**
 * Multi-document YAML for rendered objects: what `bulkhead k8s render` prints and the bundle endpoint
 * serves as `application/yaml`. Pure.
 */
import { stringify } from 'yaml';
import type { KubeObject } from './kubernetes-types.ts';

/**
 * Renders objects as one multi-document YAML stream, in the given order, keys in insertion order (the
 * builders fix it), so the same objects always give the same bytes. Each document starts with `---`; the
 * stream ends with a newline. An empty list renders as the empty string.
 */
export const renderYaml = (objects: readonly KubeObject[]): string =>
  objects
    .map((obj) => `---\n${stringify(obj, { lineWidth: 0, indent: 2, aliasDuplicateObjects: false })}`)
    .join('');
