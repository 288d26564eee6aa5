/**
 * Realistic backpack.tf events (`listing-update` / `listing-delete`), modelled field by field
 * on the real captures in test/fixtures/bptf-captured-events.json.
 *
 * Everything is deterministic in (index, seed): the same listing index always has the same
 * listing id, owner, item and intent, and the seed only moves the volatile fields (price,
 * bump time, details text), so a stream of updates for one index looks like one listing
 * being edited. Serialized events weigh 2–3 KiB, like real ones, so throughput tests move
 * realistic byte volumes. A few indexes (EXAMPLE_LISTINGS) have a fixed item, intent and owner
 * so that the README's example queries find rows on simulated data.
 *
 * Optional-ness is reproduced on purpose (a parser must not depend on these fields):
 * `userAgent`, `buyoutOnly`, `tradeOffersPreferred`, `price.steam`, `particle`, `texture`,
 * `wearTier`, `class`, `user.acceptedSuggestions` appear on some events only.
 */
import { createHash } from 'node:crypto';
import { makeObjectId } from './object-id.js';

export type BptfEvent = { id: string; event: string; payload: Record<string, unknown> };

export type Intent = 'buy' | 'sell';

/** Price of one Mann Co. Supply Crate Key in refined metal (the fixture's 116189.25 / 1975 ≈ 58.83). */
export const KEY_PRICE_REF = 58.83;
/** USD per refined metal (fixture: 232378.5 ref ≈ $6390.41). */
const USD_PER_REF = 0.0275;
/** First SteamID64 of the individual-account range; SteamID64 = this + 32-bit account id. */
const STEAMID64_BASE = 76561197960265728n;
/** Number of distinct simulated traders; many listings share an owner, as with real bots. */
const USER_COUNT = 400;
/**
 * SteamID64 of simulated trader 0, the README's example user (its "A user's live listings" query
 * and its example listing id use it). The other traders' ids are derived from their index.
 */
export const EXAMPLE_STEAMID = '76561199072611396';
/** The item name the README's "Active sell listings of an item" query looks up. */
export const EXAMPLE_ITEM_NAME = 'Team Captain';

type Quality = { id: number; name: string; color: string };
const UNIQUE: Quality = { id: 6, name: 'Unique', color: '#FFD700' };
const STRANGE: Quality = { id: 11, name: 'Strange', color: '#CF6A32' };
const UNUSUAL: Quality = { id: 5, name: 'Unusual', color: '#8650AC' };
const VINTAGE: Quality = { id: 3, name: 'Vintage', color: '#476291' };

/** Catalogue of simulated items. `extra` is merged into `payload.item` verbatim. */
type ItemTemplate = {
  name: string;
  baseName: string;
  marketName: string;
  defindex: number;
  quality: Quality;
  summary: string;
  slot: string;
  icon: string;
  /** Typical price in refined metal, before per-listing jitter. */
  baseRef: number;
  classes?: string[];
  extra?: Record<string, unknown>;
};

const ICON_BASE = 'https://steamcdn-a.akamaihd.net/apps/440/icons/';

const ITEMS: readonly ItemTemplate[] = [
  {
    name: 'Mann Co. Supply Crate Key', baseName: 'Mann Co. Supply Crate Key', marketName: 'Mann Co. Supply Crate Key',
    defindex: 5021, quality: UNIQUE, summary: 'Level 5 Tool', slot: 'tool',
    icon: 'key.be0a5f2cda3a039132c35b67319829d785e50352.png', baseRef: KEY_PRICE_REF,
  },
  {
    name: 'Burning Flames Team Captain', baseName: 'Team Captain', marketName: 'Unusual Team Captain',
    defindex: 378, quality: UNUSUAL, summary: 'Level 1-100 Hat', slot: 'misc',
    icon: 'medic_ttg_max.e9b9c5c7b8f6f5d8b2e1e7c0c9f6c1d1c1bfa6f4.png', baseRef: 15_300,
    extra: {
      particle: { id: 13, name: 'Burning Flames', shortName: 'bf', imageUrl: '/images/440/particles/13_94x94.png', type: 'standard' },
      priceindex: '13',
    },
  },
  {
    // The plain (Unique) hat, listed far more often than its Unusual versions; the README's example item.
    name: EXAMPLE_ITEM_NAME, baseName: 'Team Captain', marketName: 'Team Captain',
    defindex: 378, quality: UNIQUE, summary: 'Level 1-100 Hat', slot: 'misc',
    icon: 'medic_ttg_max.e9b9c5c7b8f6f5d8b2e1e7c0c9f6c1d1c1bfa6f4.png', baseRef: 84.5,
  },
  {
    name: 'Time Warp Polar Pullover', baseName: 'Polar Pullover', marketName: 'Unusual Polar Pullover',
    defindex: 30329, quality: UNUSUAL, summary: 'Level 1-100 Hat', slot: 'misc',
    icon: 'xms2013_polar_pullover.f78eca28eeb5c9899be79313cbaa48b5d9831c51.png', baseRef: 116_189.25,
    extra: {
      particle: { id: 70, name: 'Time Warp', shortName: 'tw', imageUrl: '/images/440/particles/70_94x94.png', type: 'standard' },
      priceindex: '70',
    },
  },
  {
    name: 'Strange Rocket Launcher', baseName: 'Rocket Launcher', marketName: 'Strange Rocket Launcher',
    defindex: 205, quality: STRANGE, summary: 'Level 1 Rocket Launcher', slot: 'primary',
    icon: 'w_rocketlauncher.4e1c6d6d2c1bc5f7f1d2e0e1f2b4f8d1e5f3b8d1.png', baseRef: 12.44, classes: ['Soldier'],
  },
  {
    name: 'Professional Killstreak Strange Australium Scattergun', baseName: 'Scattergun',
    marketName: 'Professional Killstreak Strange Australium Scattergun',
    defindex: 200, quality: STRANGE, summary: 'Level 1 Scattergun', slot: 'primary',
    icon: 'w_scattergun_gold.0b1a5ff7ddcc95e4b1f2e1d6c0b7f84f7b4a5d1c.png', baseRef: 3_950, classes: ['Scout'],
    extra: {
      australium: true, killstreakTier: 3,
      sheen: { id: 2, name: 'Deadly Daffodil' }, killstreaker: { id: 2006, name: 'Tornado' },
    },
  },
  {
    name: 'The Chicken Kiev', baseName: 'Chicken Kiev', marketName: 'The Chicken Kiev',
    defindex: 30238, quality: UNIQUE, summary: 'Level 1-100 Bird Head', slot: 'misc',
    icon: 'hw2013_heavy_robin.76f9924b153b853b37c3c68e8ba29ae690ce3f48.png', baseRef: 1_650.18, classes: ['Heavy'],
  },
  {
    name: 'Strange Autumn Shotgun (Factory New)', baseName: 'Shotgun', marketName: 'Strange Autumn Shotgun (Factory New)',
    defindex: 10, quality: STRANGE, summary: 'Level 1 Shotgun (Factory New)', slot: 'secondary',
    icon: 'w_shotgun.a62f2a1b0d3c8f6a7e1e9b2b1f7b1e4d5f2c8a1b.png', baseRef: 241.32, classes: ['Soldier'],
    extra: {
      texture: { id: 60, itemDefindex: 15085, rarity: { id: 1, name: 'Civilian', color: '#B0C3D9' }, name: 'Autumn' },
      wearTier: { id: 1, name: 'Factory New', short: 'FN' },
    },
  },
  {
    name: "Max's Severed Head", baseName: "Max's Severed Head", marketName: "Max's Severed Head",
    defindex: 162, quality: UNIQUE, summary: 'Level 1 Hat', slot: 'misc',
    icon: 'max_head.58e0d3c5e8b3c0f4f6d1a7a2a7c7e2b1c5d4f6e8.png', baseRef: 1_120,
  },
  {
    name: 'Vintage Tyrolean', baseName: 'Vintage Tyrolean', marketName: 'Vintage Vintage Tyrolean',
    defindex: 341, quality: VINTAGE, summary: 'Level 10 Hat', slot: 'misc',
    icon: 'all_tyrolean.1f7d8e3f2b6b8c4e5d2c1b0a9f8e7d6c5b4a3f2e.png', baseRef: 3.66,
  },
  {
    name: 'Refined Metal', baseName: 'Refined Metal', marketName: 'Refined Metal',
    defindex: 5002, quality: UNIQUE, summary: 'Level 3 Craft Item', slot: 'misc',
    icon: 'metal_refined.1b2e7c5e2c0b6a6d1c7f4c0a1f2b3e4d5c6b7a8f.png', baseRef: 1,
  },
];

const USER_NAMES = [
  'ScrapyardBot⚡️24/7', 'Philibert BOT || [⇄] 24/7', 'Epic Flintstones王 <{24/7⇄}>', 'mannco.store bot',
  'KeyBanking BOT [24/7]', 'Hat Collector', 'Gladiator.tf #', 'quicksell.store | bot', 'noob trader', 'Spycrab',
];

/** Real bot listings carry long marketing text; it is much of why events weigh 2–3 KiB. */
const TAGLINES = [
  '⚡️24/7 INSTANT. 5k+ keys stock (auto-refill). Offer⚡or chat💬me. Can pay more in certain cases (eg. Strange Unusual/Factory New), just contact my owner!',
  'My owner can buy more items! Send me a trade offer or add me and type the command, I will accept instantly. Discord: @owner | Backpack: see my profile',
  '[⇄] Fast & safe bot trading 24/7. Price updated every 5 minutes from the community price. Trade offers preferred, no lowballs please, ask my owner for bulk.',
  'Rent your own bot from 6 keys per month! Reliable 24/7 trading, instant offers, automatic price checks. Type !help for all commands, !how2trade for help.',
];

const USER_AGENTS = [
  'ScrapyardBot - fastest trades at best prices, and this is not just marketing fluff like some do ;-)',
  'Gladiator.tf - Rent your own bot from 6 keys per month',
  'TF2Autobot v5.13.1',
  'Gladiatortf - Rent your own bot from 6 keys per month',
];

/** 32-bit FNV-1a over a string: a cheap, stable seed derivation for the PRNG below. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A deterministic generator seeded by its parts (hashed), so each use of randomness is independent. */
function prng(...parts: (string | number)[]): () => number {
  return mulberry32(fnv1a(parts.join(':')));
}

/** mulberry32: tiny deterministic PRNG in [0, 1); quality is ample for fake data. */
export function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(list: readonly T[], r: number): T {
  const value = list[Math.floor(r * list.length) % list.length];
  if (value === undefined) throw new Error('pick: empty list');
  return value;
}

function hex(text: string, algorithm: 'md5' | 'sha1'): string {
  return createHash(algorithm).update(text).digest('hex');
}

/** Trims a number to at most 2 decimals without trailing zeros ("21.37", "1975"). */
function fmt(n: number): string {
  return String(Number(n.toFixed(2)));
}

/**
 * Listings whose item, intent and owner are fixed rather than drawn, so the README's example
 * queries find them: a Team Captain for sale and a key buy order, both by EXAMPLE_STEAMID.
 * The traffic model (traffic.ts) sends them to every new client and never deletes them.
 */
const EXAMPLE_LISTINGS: ReadonlyMap<number, { itemName: string; intent: Intent; userIndex: number }> = new Map([
  [0, { itemName: EXAMPLE_ITEM_NAME, intent: 'sell', userIndex: 0 }],
  [1, { itemName: 'Mann Co. Supply Crate Key', intent: 'buy', userIndex: 0 }],
]);

/** Indexes of the fixed example listings (see EXAMPLE_LISTINGS). */
export const EXAMPLE_LISTING_INDEXES: readonly number[] = [...EXAMPLE_LISTINGS.keys()];

export function isExampleListing(index: number): boolean {
  return EXAMPLE_LISTINGS.has(index);
}

/** Intent is a property of the listing, so it depends on the index only (about 3 buys : 1 sell). */
export function intentFor(index: number): Intent {
  const example = EXAMPLE_LISTINGS.get(index);
  if (example) return example.intent;
  return prng('intent', index)() < 0.25 ? 'sell' : 'buy';
}

/** Account id (SteamID64 minus STEAMID64_BASE) of simulated trader `userIndex`. */
function accountIdOf(userIndex: number): number {
  if (userIndex === 0) return Number(BigInt(EXAMPLE_STEAMID) - STEAMID64_BASE);
  return 1_000_000_000 + userIndex * 7_919;
}

/** Owner of a listing: many listings share one of USER_COUNT traders, as bots list hundreds of items. */
function ownerFor(index: number): { accountId: number; steamid: string; userIndex: number } {
  const userIndex = EXAMPLE_LISTINGS.get(index)?.userIndex ?? Math.floor(prng('owner', index)() * USER_COUNT);
  const accountId = accountIdOf(userIndex);
  return { accountId, steamid: (STEAMID64_BASE + BigInt(accountId)).toString(), userIndex };
}

function assetIdFor(index: number): string {
  return String(15_000_000_000 + index * 37);
}

/**
 * The listing id for a listing index, in the two shapes backpack.tf uses:
 * buy orders `440_<steamid64>_<32-hex md5>`, sell listings `440_<assetid>`.
 */
export function listingIdFor(index: number): string {
  if (intentFor(index) === 'sell') return `440_${assetIdFor(index)}`;
  return `440_${ownerFor(index).steamid}_${hex(`listing:${index}`, 'md5')}`;
}

function itemFor(index: number): ItemTemplate {
  const example = EXAMPLE_LISTINGS.get(index);
  const pinned = example && ITEMS.find((item) => item.name === example.itemName);
  return pinned ?? pick(ITEMS, prng('item', index)());
}

/** The key's defindex: keys are priced in metal only, as on backpack.tf (their bot sells make the key rate). */
const KEY_DEFINDEX = 5021;

/** Converts a price in refined metal to backpack.tf's `currencies` and `value` objects. */
function priceObjects(raw: number, metalOnly = false): { currencies: Record<string, number>; value: Record<string, unknown> } {
  const keys = !metalOnly && raw >= KEY_PRICE_REF ? Math.floor(raw / KEY_PRICE_REF) : 0;
  // Metal moves in scrap steps (1/9 ref).
  const metal = Math.round((raw - keys * KEY_PRICE_REF) * 9) / 9;
  const currencies: Record<string, number> = {};
  if (metal > 0) currencies.metal = Number(metal.toFixed(2));
  if (keys > 0) currencies.keys = keys;
  const longParts = [keys > 0 ? `${keys} keys` : '', metal > 0 ? `${fmt(metal)} ref` : ''].filter((p) => p !== '');
  const value = {
    raw: Number(raw.toFixed(4)),
    short: keys > 0 ? `${fmt(raw / KEY_PRICE_REF)} keys` : `${fmt(metal)} ref`,
    long: longParts.length > 0 ? longParts.join(', ') : '0 ref',
  };
  return { currencies, value };
}

function itemPrice(template: ItemTemplate, r: () => number, timeSec: number): Record<string, unknown> {
  const suggestedRaw = template.baseRef * (0.98 + r() * 0.08);
  const inKeys = suggestedRaw >= KEY_PRICE_REF;
  const communityValue = inKeys ? Number((suggestedRaw / KEY_PRICE_REF).toFixed(2)) : Number(suggestedRaw.toFixed(2));
  const currency = inKeys ? 'keys' : 'metal';
  const unit = inKeys ? 'keys' : 'ref';
  const usd = suggestedRaw * USD_PER_REF;
  const price: Record<string, unknown> = {};
  // The Steam Community Market price is missing for many items (e.g. the fixture's Chicken Kiev).
  if (r() < 0.6) {
    const steamUsdCents = Math.round(usd * 100 * (1.2 + r() * 0.8));
    price.steam = {
      currency: 'usd',
      short: `$${(steamUsdCents / 100).toFixed(2)}`,
      long: `${fmt(steamUsdCents / 100 / USD_PER_REF)} ref, ${fmt(steamUsdCents / 100 / USD_PER_REF / KEY_PRICE_REF)} keys`,
      raw: steamUsdCents / 100 / USD_PER_REF,
      value: steamUsdCents,
    };
  }
  price.community = {
    value: communityValue,
    valueHigh: Number((communityValue * 1.04).toFixed(2)),
    currency,
    raw: suggestedRaw,
    short: `${fmt(communityValue)} ${unit}`,
    long: `${fmt(suggestedRaw)} ref, $${usd.toFixed(2)}`,
    usd,
    updatedAt: timeSec - 86_400 * (30 + Math.floor(r() * 900)),
    difference: suggestedRaw * (r() * 0.2 - 0.1),
  };
  price.suggested = {
    raw: suggestedRaw,
    short: `${fmt(communityValue)} ${unit}`,
    long: `${fmt(suggestedRaw)} ref, $${usd.toFixed(2)}`,
    usd,
  };
  return price;
}

function userFor(index: number, steamid: string, accountId: number, userIndex: number): Record<string, unknown> {
  const r = prng('user', userIndex);
  const avatarHash = hex(`avatar:${userIndex}`, 'sha1');
  const premium = r() < 0.7;
  const style = premium ? `awesome${1 + Math.floor(r() * 7)}` : '';
  const token = Buffer.from(hex(`token:${userIndex}`, 'md5'), 'hex').toString('base64url').slice(0, 8);
  const user: Record<string, unknown> = {
    id: steamid,
    name: `${pick(USER_NAMES, r())}${userIndex}`,
    avatar: `https://avatars.steamstatic.com/${avatarHash}_medium.jpg`,
    avatarFull: `https://avatars.steamstatic.com/${avatarHash}_full.jpg`,
    premium,
    online: r() < 0.8,
    banned: false,
    customNameStyle: style,
  };
  if (index % 3 === 0) user.acceptedSuggestions = Math.floor(r() * 40);
  Object.assign(user, { class: style, style: '', role: null });
  user.tradeOfferUrl = `https://steamcommunity.com/tradeoffer/new/?partner=${accountId}&token=${token}`;
  if (index % 3 === 0) Object.assign(user, { isMarketplaceSeller: false, flagImpersonated: null });
  user.bans = [];
  return user;
}

type ListingOpts = { timeSec: number; intent?: Intent; price?: number; seed?: number };

/** The full listing payload for index at the given time; shared by updates and full deletes. */
function listingPayload(index: number, opts: ListingOpts, isDelete: boolean): Record<string, unknown> {
  const seed = opts.seed ?? 0;
  const r = prng('listing', index, seed);
  const template = itemFor(index);
  const intent = opts.intent ?? intentFor(index);
  const { accountId, steamid, userIndex } = ownerFor(index);
  // Buyers bid under the suggested price, sellers ask above it; the seed moves it a little.
  const listingFactor = intent === 'buy' ? 0.88 + prng('factor', index)() * 0.08 : 1.01 + prng('factor', index)() * 0.08;
  const raw = opts.price ?? template.baseRef * listingFactor * (0.99 + r() * 0.02);
  const { currencies, value } = priceObjects(raw, template.defindex === KEY_DEFINDEX);
  // An update is (re)published now; a delete removes a listing published a while ago.
  const listedAt = isDelete ? opts.timeSec - 60 - Math.floor(r() * 86_400) : opts.timeSec - Math.floor(r() * 3);
  const bumpedAt = r() < 0.5 ? listedAt : listedAt - Math.floor(r() * 3_600);
  const viaUserAgent = prng('source', index)() < 0.8;
  const stock = Math.floor(r() * 5);

  const payload: Record<string, unknown> = {
    id: listingIdFor(index),
    steamid,
    appid: 440,
    currencies,
    value,
  };
  if (viaUserAgent) {
    payload.tradeOffersPreferred = true;
    payload.buyoutOnly = true;
  }
  const tagline = pick(TAGLINES, prng('tagline', userIndex)());
  payload.details = intent === 'buy'
    ? `24/7 BOT Buying ${template.name} for ${value.long}! Stock: ${stock}/${stock + 1}. Add me and type !sell ${template.name} or send me a trade offer! ${tagline}`
    : `Selling ${template.name} for ${value.long}. Send me an offer or add me and type !buy ${template.name} ${tagline}`;
  Object.assign(payload, { listedAt, bumpedAt, intent, count: 1, status: 'active', source: viaUserAgent ? 'userAgent' : 'user' });

  const isSell = intent === 'sell';
  const item: Record<string, unknown> = {
    appid: 440,
    baseName: template.baseName,
    defindex: template.defindex,
    id: isSell ? assetIdFor(index) : '',
    imageUrl: ICON_BASE + template.icon,
    marketName: template.marketName,
    name: template.name,
    origin: isSell ? { id: 0, name: 'Timed Drop' } : null,
    originalId: isSell ? String(Number(assetIdFor(index)) - 1_234_567) : '',
    quality: template.quality,
    summary: template.summary,
    price: itemPrice(template, prng('price', index, seed), opts.timeSec),
  };
  if (template.classes) item.class = template.classes;
  item.slot = template.slot;
  Object.assign(item, template.extra ?? {});
  Object.assign(item, { tradable: true, craftable: true });
  payload.item = item;

  if (viaUserAgent) {
    payload.userAgent = { client: pick(USER_AGENTS, prng('ua', userIndex)()), lastPulse: opts.timeSec - Math.floor(r() * 280) };
  }
  payload.user = userFor(index, steamid, accountId, userIndex);
  return payload;
}

/**
 * A `listing-update` for listing `index` (created or edited at `timeSec`).
 * @param opts.timeSec event time, Unix seconds; becomes the first 4 bytes of the event id
 * @param opts.intent overrides the listing's own intent (the listing id keeps its shape)
 * @param opts.price overrides the price, in refined metal (value.raw)
 * @param opts.seed varies the volatile fields (price jitter, bump time) between updates
 */
export function makeListingUpdate(index: number, opts: ListingOpts): BptfEvent {
  return { id: makeObjectId(opts.timeSec), event: 'listing-update', payload: listingPayload(index, opts, false) };
}

/**
 * A `listing-delete` for listing `index`. Like the real server it carries the full listing
 * with `status: 'active'` (the listing as it was), or only `{ id }` when `partial` is set,
 * the shape some consumers report.
 */
export function makeListingDelete(index: number, opts: { timeSec: number; partial?: boolean; seed?: number }): BptfEvent {
  const payload = opts.partial
    ? { id: listingIdFor(index) }
    : listingPayload(index, { timeSec: opts.timeSec, seed: opts.seed ?? 0 }, true);
  return { id: makeObjectId(opts.timeSec), event: 'listing-delete', payload };
}
