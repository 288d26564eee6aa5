import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SKU_ITEM_FIELDS, skuOf } from '../../src/feeds/bptf/sku.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import captured from '../fixtures/bptf-captured-events.json' with { type: 'json' };

/** The fields every backpack.tf item carries; each case below adds what makes it that item. */
function item(defindex: number, quality: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const names: Record<number, string> = { 5: 'Unusual', 6: 'Unique', 11: 'Strange', 15: 'Decorated Weapon' };
  return {
    appid: 440,
    defindex,
    id: '',
    originalId: '',
    quality: { id: quality, name: names[quality] ?? 'Other', color: '#FFD700' },
    tradable: true,
    craftable: true,
    ...extra,
  };
}

const unique = { id: 6, name: 'Unique', color: '#FFD700' };

describe('skuOf on the real captured events', () => {
  const items = captured.map((e) => e.payload.item);

  it('Unusual Time Warp Polar Pullover: quality 5 with the particle as the effect', () => {
    expect(skuOf(items[0])).toBe('30329;5;u70');
  });

  it('The Chicken Kiev: a plain Unique item is defindex;quality only', () => {
    expect(skuOf(items[1])).toBe('30238;6');
  });

  it('Strange Autumn Shotgun (Factory New): the skin defindex 15085 from texture, not the stock Shotgun 10', () => {
    expect(skuOf(items[2])).toBe('15085;11;w1;pk60');
  });
});

describe('skuOf on constructed items', () => {
  it('Unusual Burning Flames Team Captain: effect 13', () => {
    expect(skuOf(item(378, 5, { particle: { id: 13, name: 'Burning Flames', shortName: 'bf', type: 'standard' } }))).toBe(
      '378;5;u13',
    );
  });

  it('Strange Professional Killstreak Australium Rocket Launcher: australium, then kt-3', () => {
    expect(skuOf(item(205, 11, { australium: true, killstreakTier: 3 }))).toBe('205;11;australium;kt-3');
  });

  it('Non-Craftable Team Captain: backpack.tf leaves the craftable key out', () => {
    const nonCraftable = item(378, 6);
    delete nonCraftable.craftable;
    expect(skuOf(nonCraftable)).toBe('378;6;uncraftable');
  });

  it('an explicit craftable: false is uncraftable too', () => {
    expect(skuOf(item(378, 6, { craftable: false }))).toBe('378;6;uncraftable');
  });

  it('Non-Tradable Mann Co. Supply Crate Key: only tradable: false adds untradable', () => {
    expect(skuOf(item(5021, 6, { tradable: false }))).toBe('5021;6;untradable');
  });

  it('a missing tradable key is not taken as untradable (no real listing lacks it)', () => {
    const noTradable = item(5021, 6);
    delete noTradable.tradable;
    expect(skuOf(noTradable)).toBe('5021;6');
  });

  it('Festivized Strange Killstreak Minigun: kt-1 before festive, per the format order', () => {
    expect(skuOf(item(202, 11, { killstreakTier: 1, festivized: true }))).toBe('202;11;kt-1;festive');
  });

  it('Hot Blitzkrieg SMG (Battle Scarred): unusual skin, defindex 15153 from texture, wear 5, paint kit 81', () => {
    const smg = item(16, 5, {
      baseName: 'SMG',
      particle: { id: 701, name: 'Hot', shortName: 'hot', type: 'weapon' },
      texture: { id: 81, itemDefindex: 15153, rarity: { id: 4, name: 'Commando', color: '#8847FF' }, name: 'Blitzkrieg' },
      wearTier: { id: 5, name: 'Battle Scarred', short: 'BS' },
    });
    expect(skuOf(smg)).toBe('15153;5;u701;w5;pk81');
  });

  it('Red Rock Roscoe Pistol (Field-Tested): paint kit 0 is a real skin and stays in the SKU', () => {
    const pistol = item(22, 15, {
      texture: { id: 0, itemDefindex: 15013, name: 'Red Rock Roscoe' },
      wearTier: { id: 3, name: 'Field-Tested', short: 'FT' },
    });
    expect(skuOf(pistol)).toBe('15013;15;w3;pk0');
  });

  it('a decorated weapon whose texture has no itemDefindex keeps its own defindex (Holy Mackerel, war paint 200)', () => {
    const mackerel = item(221, 15, { texture: { id: 200, name: 'Some War Paint' }, wearTier: { id: 2 } });
    expect(skuOf(mackerel)).toBe('221;15;w2;pk200');
  });

  it('a weapon whose texture names a War Paint item (16000-17999) keeps the weapon defindex', () => {
    const mackerel = item(221, 15, { texture: { id: 258, itemDefindex: 17258 }, wearTier: { id: 2 } });
    expect(skuOf(mackerel)).toBe('221;15;w2;pk258');
  });

  it('a War Paint listed under the generic War Paint 9536 takes its own defindex 17258 from texture', () => {
    const warPaint = item(9536, 15, { texture: { id: 258, itemDefindex: 17258 }, wearTier: { id: 5 } });
    expect(skuOf(warPaint)).toBe('17258;15;w5;pk258');
  });

  it('Strange Unusual Burning Flames Team Captain: elevated quality 11 adds strange', () => {
    expect(skuOf(item(378, 5, { particle: { id: 13 }, elevatedQuality: { id: 11, name: 'Strange', color: '#CF6A32' } }))).toBe(
      '378;5;u13;strange',
    );
  });

  it('an elevated quality equal to the quality adds nothing', () => {
    expect(skuOf(item(202, 11, { elevatedQuality: { id: 11 } }))).toBe('202;11');
  });

  it('Mann Co. Supply Munition #82: crate series 82', () => {
    expect(skuOf(item(5734, 6, { crateSeries: 82, priceindex: '82' }))).toBe('5734;6;c82');
  });

  it('Non-Craftable Killstreak Grenade Launcher Kit (real item shape): kt-1 and target 206 from recipe.targetItem._source', () => {
    const kit = item(6527, 6, {
      baseName: 'Kit',
      killstreakTier: 1,
      recipe: {
        estimatedCraftingCost: [],
        inputItems: [],
        outputItem: null,
        targetItem: { itemName: 'Grenade Launcher', _source: { _id: '440_206', defindex: 206 } },
      },
      priceindex: '1-206',
    });
    delete kit.craftable;
    expect(skuOf(kit)).toBe('6527;6;uncraftable;kt-1;td-206');
  });

  it('Professional Killstreak Splendid Screen Kit Fabricator: kt-3 from its output kit 6526, target 406, output quality 6', () => {
    const fabricator = item(20003, 6, {
      baseName: 'Fabricator',
      recipe: {
        inputItems: [{ quantity: 2, name: 'Specialized Killstreak Item' }],
        outputItem: { appid: 440, baseName: 'Kit', defindex: 6526, quality: unique, priceindex: '3-406' },
        targetItem: { itemName: 'Splendid Screen', _source: { defindex: 406 } },
      },
      sheen: { id: 7, name: 'Hot Rod' },
      killstreaker: { id: 2004, name: 'Tornado' },
      priceindex: '6526-6-406',
    });
    expect(skuOf(fabricator)).toBe('20003;6;kt-3;td-406;od-6526;oq-6');
  });

  it('Specialized fabricator with no recipe details: kt-2 from defindex 20002, target from priceindex output-quality-target', () => {
    expect(skuOf(item(20002, 6, { recipe: { inputItems: [], outputItem: null, targetItem: null }, priceindex: '6523-6-200' }))).toBe(
      '20002;6;kt-2;td-200',
    );
  });

  it('Specialized Killstreak Sniper Rifle Kit with no target object: target 201 from priceindex tier-target', () => {
    expect(skuOf(item(6523, 6, { killstreakTier: 2, priceindex: '2-201' }))).toBe('6523;6;kt-2;td-201');
  });

  it('Professor Speks Strangifier: target 343 from recipe.targetItem', () => {
    const strangifier = item(6522, 6, {
      recipe: { inputItems: [], outputItem: null, targetItem: { itemName: 'Professor Speks', _source: { defindex: 343 } } },
      priceindex: '343',
    });
    expect(skuOf(strangifier)).toBe('6522;6;td-343');
  });

  it('a strangifier whose target object lacks a defindex falls back to the bare priceindex', () => {
    const strangifier = item(6522, 6, {
      recipe: { inputItems: [], outputItem: null, targetItem: { itemName: 'Professor Speks', imageUrl: '' } },
      priceindex: '343',
    });
    expect(skuOf(strangifier)).toBe('6522;6;td-343');
  });

  it('Professor Speks Strangifier Chemistry Set: target 343, output the Strangifier 6522 of quality 6', () => {
    const chemistrySet = item(20005, 6, {
      recipe: {
        inputItems: [{ quantity: 4, name: 'The Fists of Steel' }],
        outputItem: { defindex: 6522, quality: unique, recipe: { targetItem: { _source: { defindex: 343 } } } },
        targetItem: { itemName: 'Professor Speks', _source: { defindex: 343 } },
      },
      priceindex: '6522-6-343',
    });
    expect(skuOf(chemistrySet)).toBe('20005;6;td-343;od-6522;oq-6');
  });

  it("Collector's Shortstop Chemistry Set: output 220 of quality 14, and its priceindex output-quality is no target", () => {
    const chemistrySet = item(20006, 6, {
      recipe: {
        inputItems: [],
        outputItem: { defindex: 220, quality: { id: 14, name: "Collector's", color: '#AA0000' } },
        targetItem: null,
      },
      priceindex: '220-14',
    });
    expect(skuOf(chemistrySet)).toBe('20006;6;od-220;oq-14');
  });

  it('Non-Craftable Unusual Kazotsky Kick Unusualifier: target the taunt 1157, from priceindex', () => {
    const unusualifier = item(9258, 5, { priceindex: '1157' });
    delete unusualifier.craftable;
    expect(skuOf(unusualifier)).toBe('9258;5;uncraftable;td-1157');
  });

  it("an unusual's priceindex is its effect, not a target", () => {
    expect(skuOf(item(378, 5, { particle: { id: 13 }, priceindex: '13' }))).toBe('378;5;u13');
  });

  it('Team Captain painted A Color Similar to Slate: #2F4F4F as decimal 3100495', () => {
    expect(skuOf(item(378, 6, { paint: { id: 5052, name: 'A Color Similar to Slate', color: '#2F4F4F' } }))).toBe(
      '378;6;p3100495',
    );
  });

  it('the paint can A Color Similar to Slate itself: its paint is not a coat, so no p part', () => {
    expect(skuOf(item(5052, 6, { paint: { id: 5052, name: 'A Color Similar to Slate', color: '#2F4F4F' } }))).toBe('5052;6');
  });

  it('Team Captain #23: craft number 23', () => {
    expect(skuOf(item(378, 6, { craftNumber: 23 }))).toBe('378;6;n23');
  });

  it('an item with every part at once comes out in the format order', () => {
    const everything = item(205, 5, {
      particle: { id: 701 },
      australium: true,
      craftable: false,
      tradable: false,
      wearTier: { id: 1 },
      texture: { id: 60 },
      elevatedQuality: { id: 11 },
      killstreakTier: 3,
      recipe: { targetItem: { _source: { defindex: 206 } }, outputItem: { defindex: 6526, quality: unique } },
      festivized: true,
      craftNumber: 5,
      crateSeries: 1,
      paint: { color: '#E7B53B' },
    });
    expect(skuOf(everything)).toBe(
      '205;5;u701;australium;uncraftable;untradable;w1;pk60;strange;kt-3;td-206;festive;n5;c1;od-6526;oq-6;p15185211',
    );
  });

  it('does not change the item it reads', () => {
    const kit = item(20003, 6, { recipe: { outputItem: { defindex: 6526, quality: unique }, targetItem: null } });
    const before = structuredClone(kit);
    skuOf(kit);
    expect(kit).toEqual(before);
  });
});

describe('skuOf on malformed input', () => {
  const cases: [string, unknown][] = [
    ['null', null],
    ['undefined', undefined],
    ['a string', '5021;6'],
    ['a number', 5021],
    ['an array', [5021, 6]],
    ['an empty object', {}],
    ['an item without quality', { defindex: 5021, craftable: true }],
    ['quality as its name only', { defindex: 5021, quality: 'Unique' }],
    ['quality as an object without id', { defindex: 5021, quality: { name: 'Unique', color: '#FFD700' } }],
    ['quality id as a string', { defindex: 5021, quality: { id: '6' } }],
    ['quality null', { defindex: 5021, quality: null }],
    ['defindex missing', { quality: unique }],
    ['defindex as a string', { defindex: '5021', quality: unique }],
    ['defindex fractional', { defindex: 5021.5, quality: unique }],
    ['defindex NaN', { defindex: Number.NaN, quality: unique }],
    ['defindex infinite', { defindex: Number.POSITIVE_INFINITY, quality: unique }],
    ['defindex negative', { defindex: -1, quality: unique }],
    ['quality negative', { defindex: 5021, quality: { id: -6 } }],
    ['an item of another game (appid 570)', { appid: 570, defindex: 5021, quality: unique }],
  ];

  for (const [name, input] of cases) {
    it(`${name} gives null`, () => {
      expect(skuOf(input)).toBeNull();
    });
  }

  it('mistyped optional fields are ignored, leaving defindex;quality', () => {
    const junk = item(5021, 6, {
      appid: '440',
      particle: 'Burning Flames',
      killstreakTier: 7,
      australium: 'yes',
      festivized: 1,
      texture: [60],
      wearTier: { id: 9 },
      elevatedQuality: 'Strange',
      crateSeries: '82',
      craftNumber: -3,
      recipe: 'none',
      priceindex: { target: 206 },
      paint: { color: 'red' },
    });
    expect(skuOf(junk)).toBe('5021;6');
  });

  it('a bare numeric quality (an older form of the field) is taken', () => {
    expect(skuOf({ defindex: 5021, quality: 6, craftable: true })).toBe('5021;6');
  });

  it('an item whose fields throw when read gives null instead of throwing', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    expect(() => skuOf(hostile)).not.toThrow();
    expect(skuOf(hostile)).toBeNull();
    const getter = { defindex: 5021, get quality(): never { throw new Error('boom'); } };
    expect(skuOf(getter)).toBeNull();
  });

  it('never throws and returns a string or null for arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const sku = skuOf(value);
        return sku === null || typeof sku === 'string';
      }),
    );
  });

  it('never throws on items with arbitrary field values', () => {
    const anyField = fc.oneof(fc.anything(), fc.integer(), fc.record({ id: fc.anything(), defindex: fc.anything() }));
    const arbitraryItem = fc.record(
      {
        defindex: fc.oneof(fc.integer({ min: -5, max: 40000 }), fc.anything()),
        quality: fc.oneof(fc.record({ id: fc.integer({ min: -1, max: 20 }) }), fc.anything()),
        craftable: fc.anything(),
        tradable: fc.anything(),
        killstreakTier: anyField,
        australium: fc.anything(),
        festivized: fc.anything(),
        particle: anyField,
        texture: anyField,
        wearTier: anyField,
        elevatedQuality: anyField,
        crateSeries: anyField,
        craftNumber: anyField,
        recipe: fc.oneof(fc.anything(), fc.record({ targetItem: anyField, outputItem: anyField })),
        priceindex: fc.oneof(fc.stringMatching(/^[0-9-]{0,12}$/), fc.anything()),
        paint: fc.oneof(fc.record({ color: fc.string() }), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(arbitraryItem, (value) => {
        const sku = skuOf(value);
        return sku === null || /^\d+;\d+(;[a-z0-9-]+)*$/.test(sku);
      }),
    );
  });
});

describe('SKU_ITEM_FIELDS (the members of item the fast parser keeps)', () => {
  const pick = (item: Record<string, unknown>) => Object.fromEntries(Object.entries(item).filter(([k]) => SKU_ITEM_FIELDS.includes(k)));

  it('names every member of item that sku.ts reads', () => {
    const source = readFileSync(new URL('../../src/feeds/bptf/sku.ts', import.meta.url), 'utf8');
    const read = new Set([...source.matchAll(/\bitem\.(\w+)/g)].map((m) => m[1]));
    expect(read.size).toBeGreaterThan(10);
    for (const field of read) expect(SKU_ITEM_FIELDS, field).toContain(field);
  });

  it('gives the same SKU as the whole item, on the captured events and the simulator\'s items', () => {
    const items = [...captured.map((e) => e.payload.item), ...Array.from({ length: 200 }, (_, i) => makeListingUpdate(i, { timeSec: 1_765_000_000 }).payload.item)] as Record<string, unknown>[];
    let withSku = 0;
    for (const item of items) {
      const sku = skuOf(item);
      if (sku !== null) withSku++;
      expect(skuOf(pick(item)), JSON.stringify(item)).toBe(sku);
    }
    expect(withSku).toBe(items.length);
  });
});
