/** A node of PostgreSQL's `EXPLAIN (FORMAT JSON)` plan, as the plan tests read it. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  /** With ANALYZE: rows per loop, and loops. */
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Visits `node` and every node below it, parents first. */
export const walkPlan = (node: PlanNode, visit: (n: PlanNode) => void): void => {
  visit(node);
  for (const child of node.Plans ?? []) walkPlan(child, visit);
};
