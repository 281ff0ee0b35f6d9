/**
 * Hierarchical quotas (issue 15), as pure functions: a tree of quota nodes — the cluster at the top, then
 * organizations, then teams (Kueue's hierarchical cohorts and Slurm's accounts are the references).
 *
 * - A child's nominal quota is carved out of its parent's: the children's nominal amounts of a node may
 *   not sum above the node's own (`validateQuotaTree`, which names the level and the resource).
 * - Unused nominal capacity is lent first inside the nearest subtree, then further up: a node's usage may
 *   exceed its nominal by at most its borrowing limit, and what it takes above its nominal must be free in
 *   its parent, where each sibling holds back what it uses and the part of its nominal it does not lend
 *   (nominal − lending limit). Checked from the leaf up to the root (`admitInTree`), which says which
 *   level's limit a waiting request hit.
 * - Preemption reclaims borrowed capacity from the farthest borrower first (`reclaimOrder`).
 *
 * No IO, no clock: the tenant service validates with it, the scheduler and `explain` ask it.
 */
import type { Resources } from './scheduler-types.ts';

/** The quota fields of a tenant, as the quota record names them. */
export type QuotaResource = 'cpu' | 'memoryMiB' | 'gpu';

export const quotaResources: readonly QuotaResource[] = ['cpu', 'memoryMiB', 'gpu'];

export interface QuotaTreeNode {
  id: string;
  /** What messages call the node (a tenant slug, "cluster"). */
  label: string;
  parentId: string | null;
  nominal: Resources;
  /** How far the node's usage may exceed its nominal; missing resources: unbounded (bounded by the parent). */
  borrowingLimit?: Partial<Resources> | undefined;
  /** How much of its unused nominal the node lends to its siblings' subtrees; missing: all of it. */
  lendingLimit?: Partial<Resources> | undefined;
}

export interface QuotaTreeProblem {
  /** Depth of the node at fault (whose children over-commit it, or whose lending limit is too high): 0 for a root. */
  level: number;
  node: string;
  resource: QuotaResource;
  /** 'over-committed': children's guarantees above the node's nominal; 'lending-limit': a lending limit above it. */
  kind: 'over-committed' | 'lending-limit';
  /** The children's nominal sum, or the lending limit, that exceeds `nominal`. */
  childrenNominal: number;
  nominal: number;
  message: string;
}

export interface QuotaTree {
  nodes: ReadonlyMap<string, QuotaTreeNode>;
  children: ReadonlyMap<string, readonly string[]>;
  depth: ReadonlyMap<string, number>;
}

const unitOf: Record<QuotaResource, string> = { cpu: 'cores', memoryMiB: 'MiB', gpu: 'GPUs' };
const nameOf: Record<QuotaResource, string> = { cpu: 'cpu', memoryMiB: 'memory', gpu: 'gpu' };

/** Indexes nodes by id, children and depth (roots: 0). A node whose parent is missing is a root. */
export const buildQuotaTree = (nodes: readonly QuotaTreeNode[]): QuotaTree => {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const children = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.parentId !== null && byId.has(n.parentId)) {
      const list = children.get(n.parentId) ?? [];
      list.push(n.id);
      children.set(n.parentId, list);
    }
  }
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    if (node === undefined || node.parentId === null || !byId.has(node.parentId) || seen.has(id)) {
      depth.set(id, 0);
      return 0;
    }
    seen.add(id);
    const d = depthOf(node.parentId, seen) + 1;
    depth.set(id, d);
    return d;
  };
  for (const n of nodes) depthOf(n.id, new Set());
  return { nodes: byId, children, depth };
};

/**
 * Every node whose children's nominal amounts sum above its own, and every node whose lending limit is
 * above its own nominal (it cannot lend what it is not guaranteed), per resource, with a message naming
 * the level (depth of the node at fault), the node and the resource. Empty when the tree is valid.
 */
export const validateQuotaTree = (nodes: readonly QuotaTreeNode[]): QuotaTreeProblem[] => {
  const tree = buildQuotaTree(nodes);
  const problems: QuotaTreeProblem[] = [];
  for (const [id, kids] of tree.children) {
    const node = tree.nodes.get(id);
    if (node === undefined) continue;
    for (const resource of quotaResources) {
      const childrenNominal = kids.reduce((sum, kid) => sum + (tree.nodes.get(kid)?.nominal[resource] ?? 0), 0);
      // A small tolerance: fractional cores summed in floating point.
      if (childrenNominal > node.nominal[resource] + 1e-9) {
        const level = tree.depth.get(id) ?? 0;
        problems.push({
          level, node: node.label, resource, kind: 'over-committed', childrenNominal, nominal: node.nominal[resource],
          message: `level ${level} ('${node.label}'): its children's ${nameOf[resource]} guarantees (${childrenNominal} ${unitOf[resource]}) exceed its own nominal ${nameOf[resource]} (${node.nominal[resource]} ${unitOf[resource]})`,
        });
      }
    }
  }
  for (const [id, node] of tree.nodes) {
    for (const resource of quotaResources) {
      const lend = node.lendingLimit?.[resource];
      if (lend === undefined || lend <= node.nominal[resource] + 1e-9) continue;
      const level = tree.depth.get(id) ?? 0;
      problems.push({
        level, node: node.label, resource, kind: 'lending-limit', childrenNominal: lend, nominal: node.nominal[resource],
        message: `level ${level} ('${node.label}'): its ${nameOf[resource]} lending limit (${lend} ${unitOf[resource]}) exceeds its own nominal ${nameOf[resource]} (${node.nominal[resource]} ${unitOf[resource]})`,
      });
    }
  }
  return problems;
};

/** The ids from `id` up to its root, `id` first. */
export const pathToRoot = (tree: QuotaTree, id: string): string[] => {
  const path: string[] = [];
  let current: string | null = id;
  const seen = new Set<string>();
  while (current !== null && !seen.has(current)) {
    const node = tree.nodes.get(current);
    if (node === undefined) break;
    path.push(current);
    seen.add(current);
    current = node.parentId;
  }
  return path;
};

/** Usage of each node's whole subtree (its own usage plus its descendants'), from per-node own usage. */
export const subtreeUsage = (tree: QuotaTree, ownUsage: ReadonlyMap<string, Resources>): Map<string, Resources> => {
  const total = new Map<string, Resources>();
  const visit = (id: string): Resources => {
    const known = total.get(id);
    if (known !== undefined) return known;
    const own = ownUsage.get(id) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
    const sum: { cpu: number; memoryMiB: number; gpu: number } = { ...own };
    for (const kid of tree.children.get(id) ?? []) {
      const k = visit(kid);
      sum.cpu += k.cpu;
      sum.memoryMiB += k.memoryMiB;
      sum.gpu += k.gpu;
    }
    total.set(id, sum);
    return sum;
  };
  for (const id of tree.nodes.keys()) visit(id);
  return total;
};

export type TreeAdmission =
  | { admit: true }
  | {
    admit: false;
    /** Depth of the node whose limit was hit (0: a root, e.g. the cluster). */
    level: number;
    node: string;
    resource: QuotaResource;
    limit: 'borrowing' | 'parent';
    message: string;
  };

const limitOr = (limits: Partial<Resources> | undefined, resource: QuotaResource): number => limits?.[resource] ?? Number.POSITIVE_INFINITY;

/**
 * Whether `request` more usage fits for node `id`, given every node's own usage: for each node on the path
 * from `id` up, (1) the node's subtree usage stays within nominal + borrowing limit, and (2) for its
 * parent, the node's new usage plus what every sibling holds back (max of its usage and the nominal it
 * does not lend) plus the parent's own usage fits in the parent's nominal + the parent's own borrowing
 * (bounded, in turn, one level up). The first limit hit, nearest level first, is the answer.
 */
export const admitInTree = (
  tree: QuotaTree, ownUsage: ReadonlyMap<string, Resources>, id: string, request: Resources,
  options: { rootBorrowing?: 'none' | 'own-limit' } = {},
): TreeAdmission => {
  // 'own-limit': a root may exceed its nominal by its own borrowing limit (the pool above the roots is the
  // flat scheduler's to check), as the job runner uses the tree; 'none' (default): a root has only its nominal.
  const rootBorrow = (node: QuotaTreeNode, resource: QuotaResource): number => (options.rootBorrowing === 'own-limit' ? limitOr(node.borrowingLimit, resource) : 0);
  const usage = subtreeUsage(tree, ownUsage);
  const path = pathToRoot(tree, id);
  for (const nodeId of path) {
    const node = tree.nodes.get(nodeId);
    if (node === undefined) continue;
    const level = tree.depth.get(nodeId) ?? 0;
    const used = usage.get(nodeId) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
    for (const resource of quotaResources) {
      if (request[resource] <= 0) continue;
      const after = used[resource] + request[resource];
      // A root has nothing to borrow from: its nominal is all it has.
      const borrow = node.parentId === null || !tree.nodes.has(node.parentId) ? rootBorrow(node, resource) : limitOr(node.borrowingLimit, resource);
      if (after > node.nominal[resource] + borrow + 1e-9) {
        const what = borrow === 0 ? `nominal ${nameOf[resource]} (${node.nominal[resource]} ${unitOf[resource]})` : `nominal + borrowing limit for ${nameOf[resource]} (${node.nominal[resource] + borrow} ${unitOf[resource]})`;
        return { admit: false, level, node: node.label, resource, limit: 'borrowing', message: `level ${level} ('${node.label}'): ${what} reached (${used[resource]} in use, ${request[resource]} requested)` };
      }
      const parent = node.parentId === null ? undefined : tree.nodes.get(node.parentId);
      if (parent === undefined) continue;
      const parentOwn = ownUsage.get(parent.id)?.[resource] ?? 0;
      let heldBySiblings = 0;
      // The part of heldBySiblings that is idle nominal a sibling's lending limit keeps from lending.
      let heldBackByLending = 0;
      for (const sibling of tree.children.get(parent.id) ?? []) {
        if (sibling === nodeId) continue;
        const s = tree.nodes.get(sibling);
        if (s === undefined) continue;
        const notLent = Math.max(0, s.nominal[resource] - limitOr(s.lendingLimit, resource));
        const siblingUsed = usage.get(sibling)?.[resource] ?? 0;
        heldBySiblings += Math.max(siblingUsed, notLent);
        heldBackByLending += Math.max(0, notLent - siblingUsed);
      }
      const parentLevel = tree.depth.get(parent.id) ?? 0;
      const parentBorrow = parent.parentId === null || !tree.nodes.has(parent.parentId) ? rootBorrow(parent, resource) : limitOr(parent.borrowingLimit, resource);
      if (after + heldBySiblings + parentOwn > parent.nominal[resource] + parentBorrow + 1e-9) {
        return {
          admit: false, level: parentLevel, node: parent.label, resource, limit: 'parent',
          message: `level ${parentLevel} ('${parent.label}'): no ${nameOf[resource]} left to lend to '${node.label}' (${after + heldBySiblings + parentOwn - request[resource]} of ${parent.nominal[resource] + parentBorrow} ${unitOf[resource]} used or held by its children` +
            `${heldBackByLending > 0 ? `, ${heldBackByLending} of them idle but kept back by its siblings' lending limits` : ''}, ${request[resource]} requested)`,
        };
      }
    }
  }
  return { admit: true };
};

/** How many edges separate two nodes (through their lowest common ancestor). */
export const treeDistance = (tree: QuotaTree, a: string, b: string): number => {
  const up = pathToRoot(tree, a);
  const position = new Map(up.map((id, i) => [id, i]));
  const other = pathToRoot(tree, b);
  for (let j = 0; j < other.length; j += 1) {
    const i = position.get(other[j] as string);
    if (i !== undefined) return i + j;
  }
  // Different roots: through a virtual node above them.
  return up.length + other.length;
};

export interface BorrowingVictim {
  jobId: string;
  tenantId: string;
}

/**
 * The order in which `reclaimer` takes back borrowed capacity: only jobs of nodes whose subtree usage is
 * above their nominal in some resource (borrowers), the farthest from the reclaimer in the tree first, ties
 * in the order given (the caller's own preference, e.g. newest first).
 */
export const reclaimOrder = (
  tree: QuotaTree, ownUsage: ReadonlyMap<string, Resources>, reclaimer: string, candidates: readonly BorrowingVictim[],
): BorrowingVictim[] => {
  const usage = subtreeUsage(tree, ownUsage);
  const borrowing = (id: string): boolean => {
    const node = tree.nodes.get(id);
    const used = usage.get(id);
    return node !== undefined && used !== undefined && quotaResources.some((r) => used[r] > node.nominal[r] + 1e-9);
  };
  return candidates
    .map((c, index) => ({ c, index, distance: treeDistance(tree, reclaimer, c.tenantId) }))
    .filter(({ c }) => c.tenantId !== reclaimer && borrowing(c.tenantId))
    .sort((x, y) => y.distance - x.distance || x.index - y.index)
    .map(({ c }) => c);
};
