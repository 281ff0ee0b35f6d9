/**
 * Fair Tree ordering (issue 15), after Slurm's Fair Tree algorithm: siblings are ordered by their level
 * fair share — their normalized weight divided by their normalized (decayed) usage, both among their
 * siblings — before their children compete, depth first. So a tenant's place depends only on its own
 * subtree's totals and its ancestors' siblings' totals: never on how another subtree splits its usage
 * among its own children. An organization node's own jobs compete as one more child of it, with the
 * node's weight.
 *
 * Among siblings, weight/Σweight ÷ usage/Σusage orders exactly as usage ÷ weight (Σ is common to them),
 * so the order is kept as sorted child lists over usage ÷ weight, compared by cross-multiplication. A
 * `FairTreeIndex` keeps those lists between changes: setting one tenant's usage re-sums and re-sorts only
 * the levels on its path (an almost-sorted list sorts in linear time), so the scheduler can charge each
 * admission to the tenant at once and ask again for the most deserving tenant (`first`) without
 * recomputing the whole order.
 *
 * Pure: the caller gives the tree, the weights and each node's own usage (decayed-usage.ts, plus the
 * running charge of fair-share.ts).
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
  readonly key: string;
  /** The tenant whose jobs this entry orders (its own, for a self entry). */
  readonly id: string;
  readonly weight: number;
  /** A leaf's own usage; an inner entry's sum over its children (valid when not dirty). */
  usage: number;
  readonly parent: Entry | undefined;
  readonly children: Entry[];
  /** Leaves below (itself, for a leaf) that `first` may pick. */
  active: number;
  /** Inner entry: its sum and child order need refreshing. */
  dirty: boolean;
}

/**
 * Sibling order: lower usage ÷ weight first (level fair share higher), compared as ua·wb vs ub·wa; no usage
 * is infinitely deserving. Ties: more weight, then key. Returns < 0 when `a` comes first.
 */
const compareSiblings = (a: Entry, b: Entry): number => {
  const byShare = a.usage * b.weight - b.usage * a.weight;
  if (byShare !== 0) return byShare;
  if (a.weight !== b.weight) return b.weight - a.weight;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
};

/** Same level fair share (ranks share a rank only then). */
const sameShare = (a: Entry, b: Entry): boolean => a.usage * b.weight === b.usage * a.weight;

/**
 * The Fair Tree over a fixed set of nodes, with each tenant's own usage settable. Nodes whose parent is
 * missing are roots, siblings of each other; nodes on a parent cycle (unreachable from a root) are left
 * out. Usage below zero counts as zero; unknown ids are ignored.
 */
export class FairTreeIndex {
  readonly #root: Entry;
  /** The entry that carries a tenant's own usage: its leaf, or an organization's self entry. */
  readonly #own = new Map<string, Entry>();

  constructor(nodes: readonly FairTreeNode[]) {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const kids = new Map<string | null, FairTreeNode[]>();
    for (const n of nodes) {
      const parent = n.parentId !== null && byId.has(n.parentId) ? n.parentId : null;
      const list = kids.get(parent) ?? [];
      list.push(n);
      kids.set(parent, list);
    }
    const entry = (key: string, id: string, weight: number, parent: Entry | undefined): Entry =>
      ({ key, id, weight, usage: 0, parent, children: [], active: 0, dirty: true });
    this.#root = entry('', '', 1, undefined);
    const build = (n: FairTreeNode, parent: Entry): void => {
      if (this.#own.has(n.id)) return;
      const e = entry(n.id, n.id, n.weight, parent);
      parent.children.push(e);
      const children = kids.get(n.id) ?? [];
      if (children.length === 0) {
        this.#own.set(n.id, e);
        return;
      }
      const self = entry(selfKey(n.id), n.id, n.weight, e);
      this.#own.set(n.id, self);
      for (const c of children) build(c, e);
      e.children.push(self);
    };
    for (const n of kids.get(null) ?? []) build(n, this.#root);
  }

  /** How many tenants the tree orders. */
  get size(): number {
    return this.#own.size;
  }

  /** Sets tenant `id`'s own usage; the levels on its path are refreshed lazily. */
  setUsage(id: string, usage: number): void {
    const e = this.#own.get(id);
    if (e === undefined) return;
    const value = Math.max(0, usage);
    if (e.usage === value) return;
    e.usage = value;
    // A dirty entry's ancestors are all dirty (refreshing cleans whole subtrees), so the walk may stop.
    for (let p = e.parent; p !== undefined && !p.dirty; p = p.parent) p.dirty = true;
  }

  /** Tenant `id`'s own usage (0 when unknown). */
  usageOf(id: string): number {
    return this.#own.get(id)?.usage ?? 0;
  }

  /** Whether `first` may pick tenant `id` (it has something to run that fits). */
  setActive(id: string, active: boolean): void {
    const e = this.#own.get(id);
    if (e === undefined) return;
    const delta = (active ? 1 : 0) - e.active;
    if (delta === 0) return;
    for (let p: Entry | undefined = e; p !== undefined; p = p.parent) p.active += delta;
  }

  /** The most deserving active tenant: the first of `order()` among those set active. */
  first(): string | undefined {
    let e = this.#root;
    if (e.active === 0) return undefined;
    for (;;) {
      this.#refresh(e);
      if (e.children.length === 0) return e.id;
      const next = e.children.find((c) => c.active > 0);
      if (next === undefined) return undefined;
      e = next;
    }
  }

  /** Every tenant, the most deserving first. */
  order(): string[] {
    const out: string[] = [];
    const visit = (e: Entry): void => {
      this.#refresh(e);
      for (const c of e.children) {
        if (c.children.length === 0) out.push(c.id);
        else visit(c);
      }
    };
    visit(this.#root);
    return out;
  }

  /** Ranks (1 = served first) as `fairTreeRanks` documents. */
  ranks(): Map<string, number> {
    const ranks = new Map<string, number>();
    let next = 1;
    const visit = (e: Entry): void => {
      this.#refresh(e);
      const list = e.children;
      for (let i = 0; i < list.length;) {
        const first = list[i]!;
        if (first.children.length !== 0) {
          visit(first);
          i += 1;
          continue;
        }
        let j = i + 1;
        while (j < list.length && list[j]!.children.length === 0 && sameShare(list[j]!, first)) j += 1;
        for (let k = i; k < j; k += 1) ranks.set(list[k]!.id, next);
        next += j - i;
        i = j;
      }
    };
    visit(this.#root);
    return ranks;
  }

  /** Re-sums and re-sorts a dirty inner entry (its dirty descendants first, for their sums). */
  #refresh(e: Entry): void {
    if (!e.dirty) return;
    let sum = 0;
    for (const c of e.children) {
      if (c.children.length !== 0) this.#refresh(c);
      sum += c.usage;
    }
    if (e.parent !== undefined) e.usage = sum;
    e.children.sort(compareSiblings);
    e.dirty = false;
  }
}

const indexOf = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): FairTreeIndex => {
  const index = new FairTreeIndex(nodes);
  for (const [id, usage] of ownUsage) index.setUsage(id, usage);
  return index;
};

/**
 * Every node id in scheduling order, the most deserving first. Among siblings: level fair share
 * weight/Σweight ÷ usage/Σusage, higher first (no usage: infinitely deserving; ties: more weight, then id).
 * Nodes whose parent is missing are roots, siblings of each other.
 */
export const fairTreeOrder = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): string[] =>
  indexOf(nodes, ownUsage).order();

/**
 * Fair Tree ranks for the job runner (1 = served first): the order of `fairTreeOrder`, except that sibling
 * leaves with the same level fair share (e.g. neither has used anything) share one rank, so that the
 * scheduler's own tie-breaks (weighted dominant share of what runs now, then priority and age) decide
 * between them instead of the tenant id. Competition ranking: after two tenants of rank 1 comes rank 3.
 */
export const fairTreeRanks = (nodes: readonly FairTreeNode[], ownUsage: ReadonlyMap<string, number>): Map<string, number> =>
  indexOf(nodes, ownUsage).ranks();

/**
 * Fair-share factors in (0, 1] from the order: the first node 1, the last 1/n (Slurm's Fair Tree
 * factor: rank-based, so only the order matters).
 */
export const fairTreeFactors = (order: readonly string[]): Map<string, number> =>
  new Map(order.map((id, index) => [id, (order.length - index) / order.length]));
