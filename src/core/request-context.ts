/** Who did something and under which request: what every audited service call carries. */
export interface RequestContext {
  /** A stable, secret-free description of the caller, e.g. `user:alice` or `token:<id>`. */
  actor: string;
  requestId: string;
}

export const systemContext = (requestId = 'system'): RequestContext => ({ actor: 'system', requestId });
