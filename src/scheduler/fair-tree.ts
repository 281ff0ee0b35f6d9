/**
 * Fair Tree ordering (issue 15), after Slurm's Fair Tree algorithm: siblings are ordered by their level
 * fair share — their normalized weight divided by their normalized (decayed) usage, both among their
 * siblings — before their children compete, depth first. So a tenant's place depends only on its own
 * subtree's totals and its ancestors' siblings' totals: never on how another subtree splits its usage
 * among its own children. An organization node's own jobs compete as one more child of it, with the
 * node's weight.
 *
 * Pure: the caller gives the tree, the weights and each node's own decayed usage (decayed-usage.ts).
 */

export interface FairTreeNode {
  id: string;
  parentId: string | null;
  /** Fair-share weight among its siblings, > 0. */
  weight: number;
}

/** The `self` entry of an organization node among its children: the node's own jobs. */
const selfKey = (id: string): string => `\u0000self:${id}`;

interface Entry {
  key: string;
  /** The tenant whose jobs this entry orders (its own, for a self entry). */
  id: string;
  weight: number;
  usage: number;
  children: Entry[];
}

/** The tree of entries: an organization node's own usage competes as its `self` child. */
const buildForest = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): Entry[] => {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const kids = new Map<string | null, FairTreeNode[]>();
  for (const n of nodes) {
    const parent = n.parentId !== null && byId.has(n.parentId) ? n.parentId : null;
    const list = kids.get(parent) ?? [];
    list.push(n);
    kids.set(parent, list);
  }
  const build = (n: FairTreeNode, seen: Set<string>): Entry => {
    const own = Math.max(0, ownUsage.get(n.id) ?? 0);
    const children = seen.has(n.id) ? [] : (kids.get(n.id) ?? []).map((c) => build(c, new Set([...seen, n.id])));
    if (children.length === 0) return { key: n.id, id: n.id, weight: n.weight, usage: own, children: [] };
    children.push({ key: selfKey(n.id), id: n.id, weight: n.weight, usage: own, children: [] });
    return { key: n.id, id: n.id, weight: n.weight, usage: children.reduce((sum, c) => sum + c.usage, 0), children };
  };
  return (kids.get(null) ?? []).map((n) => build(n, new Set()));
};

/** Siblings, the most deserving first, each with its level fair share. */
const rankSiblings = (siblings: readonly Entry[]): Array<{ s: Entry; f: number }> => {
  const totalWeight = siblings.reduce((sum, s) => sum + s.weight, 0);
  const totalUsage = siblings.reduce((sum, s) => sum + s.usage, 0);
  const levelShare = (s: Entry): number => {
    const share = totalWeight > 0 ? s.weight / totalWeight : 0;
    const used = totalUsage > 0 ? s.usage / totalUsage : 0;
    return used === 0 ? Number.POSITIVE_INFINITY : share / used;
  };
  return siblings.map((s) => ({ s, f: levelShare(s) }))
    .sort((a, b) => (b.f - a.f) || (b.s.weight - a.s.weight) || (a.s.key < b.s.key ? -1 : a.s.key > b.s.key ? 1 : 0));
};

/**
 * Every node id in scheduling order, the most deserving first. Among siblings: level fair share
 * weight/Σweight ÷ usage/Σusage, higher first (no usage: infinitely deserving; ties: more weight, then id).
 * Nodes whose parent is missing are roots, siblings of each other.
 */
export const fairTreeOrder = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): string[] => {
  const order: string[] = [];
  const visit = (siblings: Entry[]): void => {
    for (const { s } of rankSiblings(siblings)) {
      if (s.children.length === 0) order.push(s.id);
      else visit(s.children);
    }
  };
  visit(buildForest(nodes, ownUsage));
  return order;
};

/**
 * Fair Tree ranks for the job runner (1 = served first): the order of `fairTreeOrder`, except that sibling
 * leaves with the same level fair share (e.g. neither has used anything) share one rank, so that the
 * scheduler's own tie-breaks (weighted dominant share of what runs now, then priority and age) decide
 * between them instead of the tenant id. Competition ranking: after two tenants of rank 1 comes rank 3.
 */
export const fairTreeRanks = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): Map<string, number> => {
  const ranks = new Map<string, number>();
  let next = 1;
  const visit = (siblings: Entry[]): void => {
    const ranked = rankSiblings(siblings);
    for (let i = 0; i < ranked.length;) {
      const first = ranked[i]!;
      if (first.s.children.length !== 0) {
        visit(first.s.children);
        i += 1;
        continue;
      }
      let j = i + 1;
      while (j < ranked.length && ranked[j]!.s.children.length === 0 && ranked[j]!.f === first.f) j += 1;
      for (let k = i; k < j; k += 1) ranks.set(ranked[k]!.s.id, next);
      next += j - i;
      i = j;
    }
  };
  visit(buildForest(nodes, ownUsage));
  return ranks;
};

/**
 * Fair-share factors in (0, 1] from the order: the first node 1, the last 1/n (Slurm's Fair Tree
 * factor: rank-based, so only the order matters).
 */
export const fairTreeFactors = (order: readonly string[]): Map<string, number> =>
  new Map(order.map((id, index) => [id, (order.length - index) / order.length]));
