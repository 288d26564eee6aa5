import { setFlagsFromString } from 'node:v8';

/**
 * The daemon's young generation keeps the size it starts with (two 2 MB semi-spaces) instead of
 * doubling up to two of 16 MB. A row waits in memory for its batch (up to BATCH_MAX_WAIT_MS, seconds
 * in a backlog), so most of what the daemon allocates outlives a young collection however large that
 * generation is; the larger one bought little and stayed resident. Measured with `npm run bench`:
 * firehose peak RSS 196-206 -> 165 MB, and with a 100 000-event backlog 247-255 -> 206-213 MB;
 * idle 91 -> 82 MB; for about 5 us more CPU per event (more young collections) and the same
 * events/s (Postgres is the limit).
 *
 * Set at run time, by main.ts before it imports the rest of the daemon, so it holds whichever way the daemon is
 * started (`npm start`, `node dist/src/main.js`, the image): V8 reads this flag each time it would
 * grow the young generation. A V8 that does not know the flag prints one line to stderr
 * ("unrecognized flag") and goes on with its default.
 */
setFlagsFromString('--semi-space-growth-factor=1');
