import { asObject, finite } from '../../util/json-guards.js';
import { skuOf } from './sku.js';

/** Columns extracted from a listing payload; every field is optional in real traffic. */
export interface ListingColumns extends RawColumns {
  currencies: string | null;
}

/** The columns the writer sends with a payload kept as received (it reads `currencies` from the payload itself). */
export interface RawColumns {
  steamid: string | null;
  appid: number | null;
  intent: string | null;
  itemName: string | null;
  valueRaw: number | null;
  /** Unix seconds. */
  listedAt: number | null;
  bumpedAt: number | null;
  /** The item's SKU (sku.ts); null when the payload has no usable item. */
  sku: string | null;
  /**
   * `currencies.keys` and `currencies.metal` when they are JSON numbers: the number's text as the
   * payload stored in Postgres spells it (Postgres reads it as numeric, so its scale is kept), else null.
   */
  priceKeys: string | null;
  priceMetal: string | null;
  /** A bot manages the listing: `userAgent` is present and not null. */
  automatic: boolean;
  /** The item has spells: `item.spells` is a non-empty array or object. */
  spelled: boolean;
  /**
   * The listing's own part of quote eligibility: appid 440, a SKU, a buy or a sell, `currencies` an
   * object of `keys` and/or `metal` only, each a number, and not spelled.
   */
  quotable: boolean;
}

/**
 * A JSON number as the payload's received bytes spell it (the scanner's): a price column takes the text
 * Postgres stores in the payload. JSON.parse's double prints the same for the numbers the scanner keeps
 * as received, except some of 16 or 17 significant digits (scanner.ts skipNumber).
 */
export class NumberText {
  constructor(readonly text: string) {}
}

/** What the columns read of a `currencies` object: its `keys` and `metal` (undefined when absent), and whether it has any other member. */
export interface CurrenciesMembers {
  readonly keys: unknown;
  readonly metal: unknown;
  readonly others: boolean;
}

/**
 * The columns of a payload: a JSON.parse of it, or (scanner.ts) an object of the members the pipeline
 * reads, with `currencies` read by the scanner (its numbers as NumberText) and the item's SKU in `scanned`.
 *
 * The five quote columns (priceKeys to quotable) were generated columns computed by Postgres from the
 * payload until migration 2026_12_08_003; they mean exactly what those expressions computed, which a
 * test holds them to (bptf-listing-columns.test.ts).
 */
export function extractRawColumns(p: Record<string, unknown>, scanned?: { currencies?: CurrenciesMembers; sku?: string | null }): RawColumns {
  const item = asObject(p.item);
  const value = asObject(p.value);
  const steamid = typeof p.steamid === 'string' ? p.steamid : typeof p.steamid === 'number' ? String(p.steamid) : null;
  const appid = typeof p.appid === 'number' && Number.isInteger(p.appid) && Math.abs(p.appid) < 2 ** 31 ? p.appid : null;
  const intent = p.intent === 'buy' || p.intent === 'sell' ? p.intent : null;
  const sku = scanned?.sku !== undefined ? scanned.sku : skuOf(p.item);
  const currencies = scanned?.currencies ?? currenciesMembers(asObject(p.currencies));
  const keys = currencies?.keys;
  const metal = currencies?.metal;
  const spells = item?.spells;
  const spelled = Array.isArray(spells) ? spells.length > 0 : asObject(spells) !== undefined && Object.keys(spells as object).length > 0;
  const quotable =
    appid === 440 &&
    sku !== null &&
    intent !== null &&
    currencies !== undefined &&
    !currencies.others &&
    (isNumber(keys) || isNumber(metal)) &&
    (keys === undefined || isNumber(keys)) &&
    (metal === undefined || isNumber(metal)) &&
    !spelled;
  return {
    steamid: steamid && steamid.length <= 64 ? steamid : null,
    appid,
    intent,
    itemName: typeof item?.name === 'string' ? item.name : null,
    valueRaw: finite(value?.raw),
    // `timestamp` and `bump` are the older names one client maps from.
    listedAt: unixSeconds(p.listedAt ?? p.timestamp),
    bumpedAt: unixSeconds(p.bumpedAt ?? p.bump),
    sku,
    priceKeys: numberText(keys),
    priceMetal: numberText(metal),
    automatic: p.userAgent !== undefined && p.userAgent !== null,
    spelled,
    quotable,
  };
}

/** extractRawColumns of a JSON.parse of the payload, and `currencies` as JSON text. */
export function extractListingColumns(p: Record<string, unknown>): ListingColumns {
  const currencies = asObject(p.currencies);
  return { ...extractRawColumns(p), currencies: currencies ? JSON.stringify(currencies) : null };
}

function currenciesMembers(c: Record<string, unknown> | undefined): CurrenciesMembers | undefined {
  return c && { keys: c.keys, metal: c.metal, others: Object.keys(c).some((k) => k !== 'keys' && k !== 'metal') };
}

function isNumber(v: unknown): boolean {
  return typeof v === 'number' || v instanceof NumberText;
}

/** A JSON.parse number is written back as JSON.stringify writes it: the payload's text on the JSON.parse path. */
function numberText(v: unknown): string | null {
  return v instanceof NumberText ? v.text : typeof v === 'number' ? JSON.stringify(v) : null;
}

/** Seconds within Postgres' timestamptz range; anything else is not a time. */
function unixSeconds(v: unknown): number | null {
  const n = finite(v);
  return n !== null && n >= 0 && n < 1e11 ? n : null;
}
