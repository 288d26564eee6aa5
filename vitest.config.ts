import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The slowest files, longest first. Vitest orders files by the timings of earlier runs, which a
 * clean checkout (CI) does not have: it then went by file size, and the Docker image test (build,
 * prune, a new database: 80 s beside the other files) started last and set the suite's length.
 */
const SLOW_FIRST = ['docker-build', 'replay-crash', 'db-hang-and-cancel', 'db-refusing', 'db-refusing-schema', 'embedded', 'replicas', 'db-outage', 'failover', 'npm-start', 'crash-during-outage'];

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.findIndex((name) => f.moduleId.endsWith(`/${name}.test.ts`));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Stable: the rest keep the order Vitest gave them.
    return (await super.sort(files)).map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map((x) => x.f);
  }
}

/**
 * Test database: TEST_DATABASE_URL when set (CI), else a Testcontainers Postgres when Docker answers,
 * else the embedded database (PGlite): one per worker, since each holds one database (global-setup.ts).
 * The Docker probe happens here, once (about half a second when no engine answers); its answer is
 * handed to test/global-setup.ts as TEST_DOCKER=1 or 0, which that file obeys.
 */
export default defineConfig(async () => {
  if (!process.env.TEST_DATABASE_URL && process.env.TEST_DOCKER !== '0' && process.env.TEST_DOCKER !== '1') {
    process.env.TEST_DOCKER = (await dockerAnswers()) ? '1' : '0';
  }
  return {
    test: {
      include: ['test/**/*.test.ts'],
      globalSetup: ['test/global-setup.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      // More files than cores: most integration tests wait on sockets, timers and the database, so
      // four at once on two cores overlap their waits (measured: 225 s with 2, 147 s with 4).
      maxWorkers: 4,
      // A worker imports the modules once for all the files it runs, not once per file: imports were
      // the largest shared cost (63 s of the suite's 213 s of CPU). The app keeps its state in what
      // createApp makes, not in modules (two exceptions, both safe to share: the day partitions known
      // to exist, which recovers from a stale answer, and the DATA_DIR locks held, keyed by path), so
      // one file cannot see another's.
      isolate: false,
      sequence: { sequencer: SlowFirstSequencer },
      reporters: ['default'],
    },
  };
});

async function dockerAnswers(): Promise<boolean> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
}
