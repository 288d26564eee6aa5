import type { CoreDatabase } from '../core/db/schema.js';
import type { FeedDefinition } from '../core/feed.js';
import { bptfFeed } from './bptf/feed.js';
import type { BptfTables } from './bptf/tables.js';
import { commerceFeed } from './commerce/feed.js';
import type { CommerceTables } from './commerce/tables.js';
import { tradepostFeed } from './tradepost/feed.js';
import type { TradepostTables } from './tradepost/tables.js';

/** Every feed tributary knows. A new feed is a new folder and one entry here. */
export const FEEDS: readonly FeedDefinition[] = [bptfFeed, tradepostFeed, commerceFeed];

/** Every table, typed: for code that reads across feeds (tests, the benchmark, users' own scripts). */
export type Database = CoreDatabase & BptfTables & TradepostTables & CommerceTables;
