import type { z } from 'zod';

/**
 * A feed's variables, declared in its own folder (`src/feeds/<feed>/config.ts`) and listed in
 * `src/feeds/config.ts`: src/config.ts composes them with the core's and names no feed, so adding a
 * feed never edits the core's configuration. Kept apart from the FeedDefinition because the
 * definitions read the whole Config, which is built from these: one module would import itself.
 */
export interface FeedConfig<Name extends string = string, Settings = unknown> {
  /** The feed's key in `config.feeds`: its source name. */
  readonly feed: Name;
  /** Its variables, in the order `.env.example` and the configuration table list them. */
  readonly env: z.ZodRawShape;
  /**
   * The parsed values of `env` as the feed's typed settings. Throws ConfigError, one line naming the
   * variable, for values that are each valid but do not work together.
   */
  settings(env: Readonly<Record<string, unknown>>): Settings;
  /** The secret values among the settings (unset ones may be listed), for the redactor. */
  secrets(settings: Settings): ReadonlyArray<string | undefined>;
}

/**
 * A FeedConfig whose `settings` receive its variables typed as its schema parses them. config.ts
 * passes the output of one schema that holds every feed's shape, so the narrowing is sound.
 */
export function defineFeedConfig<const Name extends string, Shape extends z.ZodRawShape, Settings>(def: {
  readonly feed: Name;
  readonly env: Shape;
  settings(env: z.output<z.ZodObject<Shape>>): Settings;
  secrets(settings: Settings): ReadonlyArray<string | undefined>;
}): FeedConfig<Name, Settings> {
  return {
    feed: def.feed,
    env: def.env,
    settings: (env) => def.settings(env as z.output<z.ZodObject<Shape>>),
    secrets: (settings) => def.secrets(settings),
  };
}
