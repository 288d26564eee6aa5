/**
 * The daemon's entry point. Only V8's young-generation flag (young-generation.ts) is set before the
 * rest loads: all of an ES module's static imports are read and compiled before its first statement
 * runs, and the allocation of loading them could grow the young generation before the flag holds (a
 * spawned daemon's new space was 8 MB instead of 4 in some test runs). So the daemon itself
 * (daemon.ts: .env, config, signals, the app) is imported after it.
 */
import './young-generation.js';

await import('./daemon.js');
