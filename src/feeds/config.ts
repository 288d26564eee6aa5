import { bptfConfig } from './bptf/config.js';
import { commerceConfig } from './commerce/config.js';
import { tradepostConfig } from './tradepost/config.js';

/**
 * Every feed's variables, in FEEDS' order: src/config.ts composes them after the core's. Apart from
 * src/feeds/index.ts because the definitions there read the Config these build (one list would make
 * an import circle). A new feed adds its `config.ts` here and its definition to FEEDS.
 */
export const FEED_CONFIGS = [bptfConfig, tradepostConfig, commerceConfig] as const;
