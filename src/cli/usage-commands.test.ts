import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reportCsv } from './usage-commands.ts';

describe('reportCsv', () => {
  it('one header, one row per line; fields with commas, quotes or line breaks are quoted (RFC 4180)', () => {
    const csv = reportCsv({
      period: '2026-11', from: '', to: '', currency: 'EUR', grandTotal: 0.3, meteredTotals: {}, tenantTotals: [],
      lines: [{ tenantId: 'id-1', tenantSlug: 'a,"b"', resource: 'apiRequests', unit: 'requests', quantity: 3, unitPrice: 0.1, total: 0.3 }],
    });
    assert.equal(csv, 'period,tenant_id,tenant_slug,resource,unit,quantity,unit_price,currency,total\n2026-11,id-1,"a,""b""",apiRequests,requests,3,0.1,EUR,0.3');
  });
});
