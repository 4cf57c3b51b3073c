import { join } from 'node:path';
import { SQLITE_FILES } from '@smart-backend/auth-server';
import Database from 'better-sqlite3';
import { generateBenchClientKeys, signTokenRequests } from '../assertions.js';
import { runLoad, runProblem } from '../load.js';
import type { BenchOptions } from '../options.js';
import type { Figure } from '../report.js';
import { registerBenchClient, reserveFhirBase, startAuthServer } from '../servers.js';
import type { SectionResult } from './token-endpoint.js';

/**
 * Figure 5: the auth server's resident memory and replay store before and after N token requests,
 * then after the assertions' lifetime: the replay store must shrink back (ATK-16 records are kept
 * until exp + skew, then pruned). A dedicated instance with CLOCK_SKEW=1 and assertions that live
 * 5 s, so "after the lifetime" is seconds away; requests go out in chunks, each signed just before
 * it is sent so that no assertion expires on the way.
 *
 * RSS comes from /proc/<pid>/status; the replay store's size from DATA_DIR/replay.db opened
 * read-only (SQLite WAL: a reader never blocks the server) — no product change, no extra endpoint.
 */
const CHUNK = 2000;
const CLOCK_SKEW_SECONDS = 1;

export async function memoryFigures(
  options: BenchOptions,
  log: (line: string) => void,
): Promise<SectionResult> {
  const lifetime = options.memoryAssertionLifetimeSeconds;
  log(
    `memory: ${options.memoryRequests} token requests with ${lifetime} s assertions, CLOCK_SKEW=${CLOCK_SKEW_SECONDS}`,
  );
  const keys = await generateBenchClientKeys();
  const auth = await startAuthServer({
    name: 'auth-server-memory',
    fhirBaseUrl: (await reserveFhirBase()).base,
    env: { CLOCK_SKEW: String(CLOCK_SKEW_SECONDS) },
  });
  const replayDb = () =>
    new Database(join(auth.dataDir, SQLITE_FILES.replay), { readonly: true, fileMustExist: true });
  const replayRows = () => {
    const db = replayDb();
    try {
      return (db.prepare('SELECT count(*) AS n FROM replay').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const mb = (bytes: number) => bytes / 2 ** 20;
  try {
    const target = await registerBenchClient(auth, keys.jwks);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = { rss: auth.service.rssBytes(), rows: replayRows() };

    const problems: string[] = [];
    let sent = 0;
    while (sent < options.memoryRequests) {
      const amount = Math.min(CHUNK, options.memoryRequests - sent);
      const bodies = await signTokenRequests(
        keys,
        'RS384',
        target,
        amount + options.connections * 2 + 16,
        lifetime,
      );
      const result = await runLoad({
        origin: auth.url,
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        bodies,
        amount,
        connections: options.connections,
      });
      const problem = runProblem(result);
      if (problem) problems.push(`memory: chunk at ${sent}: ${problem}`);
      sent += result.requests;
    }
    const loadEnded = performance.now();
    const after = { rss: auth.service.rssBytes(), rows: replayRows() };
    log(`  after ${sent} requests: RSS ${mb(after.rss).toFixed(1)} MB, replay store ${after.rows} rows`);

    // The last records expire lifetime + skew after they were signed; pruning runs periodically.
    const timeoutMs = (lifetime + CLOCK_SKEW_SECONDS + 90) * 1000;
    let rows = after.rows;
    while (rows > before.rows && performance.now() - loadEnded < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      rows = replayRows();
    }
    const shrankAfterSeconds = (performance.now() - loadEnded) / 1000;
    const settled = { rss: auth.service.rssBytes(), rows };
    log(
      `  ${shrankAfterSeconds.toFixed(1)} s later: replay store ${settled.rows} rows, RSS ${mb(settled.rss).toFixed(1)} MB`,
    );
    const shrank = settled.rows <= before.rows;
    if (!shrank)
      problems.push(
        `memory: the replay store still holds ${settled.rows} rows after ${Math.round(shrankAfterSeconds)} s`,
      );

    const section = `Memory, ${sent.toLocaleString('en-US')} token requests`;
    const figures: Figure[] = [
      {
        id: 'memory.replay.after_load',
        section,
        name: 'replay store after the requests',
        ours: { value: after.rows, unit: 'rows' },
        reference: { name: 'before', value: before.rows, unit: 'rows' },
      },
      {
        id: 'memory.replay.after_lifetime',
        section,
        name: `replay store after the assertions' lifetime (${lifetime} s + ${CLOCK_SKEW_SECONDS} s skew)`,
        ours: { value: settled.rows, unit: 'rows' },
        reference: { name: 'before', value: before.rows, unit: 'rows' },
        target: 'back to before',
        met: shrank,
        note: `shrank back ${shrankAfterSeconds.toFixed(1)} s after the last request (expired records are pruned every 60 s)`,
      },
      {
        id: 'memory.replay.seconds_to_shrink',
        section,
        name: 'time until the replay store shrank back',
        ours: { value: shrankAfterSeconds, unit: 's' },
      },
      {
        id: 'memory.rss.after_load',
        section,
        name: 'auth-server RSS after the requests',
        ours: { value: mb(after.rss), unit: 'MB' },
        reference: { name: 'before', value: mb(before.rss), unit: 'MB' },
        ratio: after.rss / before.rss,
      },
      {
        id: 'memory.rss.after_lifetime',
        section,
        name: "auth-server RSS after the assertions' lifetime",
        ours: { value: mb(settled.rss), unit: 'MB' },
        reference: { name: 'after the requests', value: mb(after.rss), unit: 'MB' },
        ratio: settled.rss / after.rss,
      },
    ];
    return {
      figures,
      measurements: [
        {
          section: 'memory',
          requests: sent,
          assertionLifetimeSeconds: lifetime,
          clockSkewSeconds: CLOCK_SKEW_SECONDS,
          before,
          after,
          settled,
          shrankAfterSeconds,
        },
      ],
      problems,
    };
  } finally {
    await auth.service.stop();
  }
}
