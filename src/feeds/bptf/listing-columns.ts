import { asObject, finite } from '../../util/json-guards.js';
import { skuOf } from './sku.js';

/** Columns extracted from a listing payload; every field is optional in real traffic. */
export interface ListingColumns {
  steamid: string | null;
  appid: number | null;
  intent: string | null;
  itemName: string | null;
  currencies: string | null;
  valueRaw: number | null;
  /** Unix seconds. */
  listedAt: number | null;
  bumpedAt: number | null;
  /** The item's SKU (sku.ts); null when the payload has no usable item. */
  sku: string | null;
}

export function extractListingColumns(p: Record<string, unknown>): ListingColumns {
  const item = asObject(p.item);
  const value = asObject(p.value);
  const currencies = asObject(p.currencies);
  const steamid = typeof p.steamid === 'string' ? p.steamid : typeof p.steamid === 'number' ? String(p.steamid) : null;
  return {
    steamid: steamid && steamid.length <= 64 ? steamid : null,
    appid: typeof p.appid === 'number' && Number.isInteger(p.appid) && Math.abs(p.appid) < 2 ** 31 ? p.appid : null,
    intent: p.intent === 'buy' || p.intent === 'sell' ? p.intent : null,
    itemName: typeof item?.name === 'string' ? item.name : null,
    currencies: currencies ? JSON.stringify(currencies) : null,
    valueRaw: finite(value?.raw),
    // `timestamp` and `bump` are the older names one client maps from.
    listedAt: unixSeconds(p.listedAt ?? p.timestamp),
    bumpedAt: unixSeconds(p.bumpedAt ?? p.bump),
    sku: skuOf(p.item),
  };
}

/** Seconds within Postgres' timestamptz range; anything else is not a time. */
function unixSeconds(v: unknown): number | null {
  const n = finite(v);
  return n !== null && n >= 0 && n < 1e11 ? n : null;
}
