import SKU from '@tf2autobot/tf2-sku';

/**
 * The SKU of a backpack.tf listing's `item` (the `payload.item` of a `listing-update` event), in the
 * string form TF2 trading bots key their prices and stock by: `defindex;quality` then optional parts
 * (`5021;6`, `30329;5;u70`, `205;11;australium;kt-3`, `378;6;uncraftable`). The library writes the
 * string (its part names and order); this file only maps backpack.tf's item fields onto its object.
 *
 * Pure and total: any input gives a string or null, never an exception. Null means the item has no
 * usable identity: no integer defindex or quality id, or an item of another game than TF2.
 *
 * backpack.tf's serializer leaves out false flags: a Non-Craftable item has no `craftable` key at all,
 * so only `craftable: true` counts as craftable.
 */

type SkuObject = Parameters<typeof SKU.fromObject>[0];

const TF2_APPID = 440;

/** The generic "War Paint" item; backpack.tf may list a War Paint under it with the real one in `texture`. */
const GENERIC_WAR_PAINT = 9536;

/**
 * Killstreak kits, by the tier of the kit. A Kit Fabricator's own item has no `killstreakTier`, so its
 * tier is read from the kit it makes (its recipe output), else from the fabricator itself.
 */
const KIT_TIER = new Map([
  [6527, 1], // Killstreak Kit
  [6523, 2], // Specialized Killstreak Kit
  [6526, 3], // Professional Killstreak Kit
]);
const FABRICATOR_TIER = new Map([
  [20002, 2], // Specialized Killstreak Kit Fabricator
  [20003, 3], // Professional Killstreak Kit Fabricator
]);

const UNUSUALIFIER = 9258;

/** Paint cans: their `paint` is what they apply, not a coat on them, so it is not part of their SKU. */
const PAINT_CANS = new Set([
  5023, 5027, 5028, 5029, 5030, 5031, 5032, 5033, 5034, 5035, 5036, 5037, 5038, 5039, 5040, 5046, 5051, 5052, 5053,
  5054, 5055, 5056, 5060, 5061, 5062, 5063, 5064, 5065, 5076, 5077,
]);

/**
 * Every member of `item` that skuOf reads. The fast parser builds an item of these alone (and the
 * name) instead of parsing the whole item, half of a payload; a test holds skuOf of that to skuOf of
 * the whole item, so a field read below and missing here fails it.
 */
export const SKU_ITEM_FIELDS: readonly string[] = [
  'appid', 'australium', 'craftNumber', 'craftable', 'crateSeries', 'defindex', 'elevatedQuality', 'festivized',
  'killstreakTier', 'paint', 'particle', 'priceindex', 'quality', 'recipe', 'texture', 'tradable', 'wearTier',
];

export function skuOf(item: unknown): string | null {
  try {
    return compute(item);
  } catch {
    return null;
  }
}

function compute(value: unknown): string | null {
  const item = record(value);
  if (!item) return null;
  // Other games' items can come through the same socket; a TF2 SKU of one would name the wrong item.
  if (typeof item.appid === 'number' && item.appid !== TF2_APPID) return null;

  const baseDefindex = int(item.defindex, 0);
  // `quality` is an object {id, name, color}; a bare number is also taken (an older form of the field).
  const quality = int(item.quality, 0) ?? int(record(item.quality)?.id, 0);
  if (baseDefindex === undefined || quality === undefined) return null;

  const texture = record(item.texture);
  const recipe = record(item.recipe);
  const output = record(recipe?.outputItem);
  const outputDefindex = int(output?.defindex, 0);

  const sku: SkuObject = { defindex: skinDefindex(baseDefindex, texture), quality };
  sku.craftable = item.craftable === true;
  // No real listing has been seen without `tradable`; only an explicit false marks an untradable item.
  if (item.tradable === false) sku.tradable = false;

  const killstreak =
    int(item.killstreakTier, 1, 3) ??
    (outputDefindex === undefined ? undefined : KIT_TIER.get(outputDefindex)) ??
    FABRICATOR_TIER.get(baseDefindex);
  if (killstreak !== undefined) sku.killstreak = killstreak;
  if (item.australium === true) sku.australium = true;
  if (item.festivized === true) sku.festive = true;

  const effect = int(record(item.particle)?.id, 1);
  if (effect !== undefined) sku.effect = effect;

  // Paint kit 0 (Red Rock Roscoe) is a real skin, so 0 is kept; the library writes `pk0`.
  const paintkit = int(texture?.id, 0);
  if (paintkit !== undefined) sku.paintkit = paintkit;
  const wear = int(record(item.wearTier)?.id, 1, 5);
  if (wear !== undefined) sku.wear = wear;

  // The second quality of a Strange Unusual (or a strange-clocked skin); the same quality twice says nothing.
  const quality2 = int(record(item.elevatedQuality)?.id, 0);
  if (quality2 !== undefined && quality2 !== quality) sku.quality2 = quality2;

  const crateseries = int(item.crateSeries, 1);
  if (crateseries !== undefined) sku.crateseries = crateseries;
  const craftnumber = int(item.craftNumber, 1);
  if (craftnumber !== undefined) sku.craftnumber = craftnumber;

  const target = targetOf(baseDefindex, recipe, output, item.priceindex);
  if (target !== undefined) sku.target = target;
  if (outputDefindex !== undefined) {
    sku.output = outputDefindex;
    const outputQuality = int(record(output?.quality)?.id, 0);
    if (outputQuality !== undefined) sku.outputQuality = outputQuality;
  }

  if (!PAINT_CANS.has(baseDefindex)) {
    const paint = paintColor(record(item.paint)?.color);
    if (paint !== undefined) sku.paint = paint;
  }

  return SKU.fromObject(sku);
}

/**
 * A decorated weapon's SKU uses its skin's own defindex. backpack.tf gives the generic weapon in
 * `defindex` (10, the stock Shotgun, for a Strange Autumn Shotgun) and the skin item in
 * `texture.itemDefindex` (15085, the Autumn Shotgun) — the defindex the item has in a Steam inventory,
 * which is what bots read. A War Paint listed under the generic War Paint item gets its own defindex
 * the same way. War Paint items sit at defindexes 16000–17999 and no weapon does, so such an
 * `itemDefindex` on a weapon names the paint applied, not the weapon: the weapon keeps its defindex.
 */
function skinDefindex(defindex: number, texture: Record<string, unknown> | undefined): number {
  const skin = int(texture?.itemDefindex, 1);
  if (skin === undefined) return defindex;
  if (isWarPaint(skin) && defindex !== GENERIC_WAR_PAINT && !isWarPaint(defindex)) return defindex;
  return skin;
}

function isWarPaint(defindex: number): boolean {
  return defindex >= 16000 && defindex <= 17999;
}

/**
 * The item a kit, strangifier, fabricator or chemistry set applies to. backpack.tf names it in
 * `recipe.targetItem` (the schema entry under `_source`); failing that, `priceindex` encodes it:
 * `tier-target` for killstreak kits, `output-quality-target` for fabricators and strangifier chemistry
 * sets, the bare target for strangifiers and Unusualifiers. Elsewhere `priceindex` means something else
 * (an unusual's effect, a crate's series, `output-quality` for a Collector's chemistry set), so it is
 * read only in those cases.
 */
function targetOf(
  defindex: number,
  recipe: Record<string, unknown> | undefined,
  output: Record<string, unknown> | undefined,
  priceindex: unknown,
): number | undefined {
  const fromRecipe = targetDefindex(recipe?.targetItem) ?? targetDefindex(record(output?.recipe)?.targetItem);
  if (fromRecipe !== undefined) return fromRecipe;
  if (typeof priceindex !== 'string' || !/^\d+(-\d+){0,2}$/.test(priceindex)) return undefined;
  const parts = priceindex.split('-');
  const last = int(Number(parts[parts.length - 1]), 1);
  if (defindex === UNUSUALIFIER && parts.length === 1) return last;
  if (KIT_TIER.has(defindex) && parts.length === 2) return last;
  if (recipe && parts.length === 3) return last;
  if (recipe && parts.length === 1 && record(recipe.targetItem)) return last;
  return undefined;
}

function targetDefindex(target: unknown): number | undefined {
  const t = record(target);
  return int(t?.defindex, 1) ?? int(record(t?._source)?.defindex, 1);
}

/** `#rrggbb` to the decimal colour the SKU's `p` part carries (e.g. `#2f4f4f` -> 3100495). */
function paintColor(color: unknown): number | undefined {
  if (typeof color !== 'string') return undefined;
  const m = /^#?([0-9a-f]{6})$/i.exec(color);
  return m?.[1] === undefined ? undefined : Number.parseInt(m[1], 16);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** `value` when it is a safe integer in [min, max], else undefined. */
function int(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
}
