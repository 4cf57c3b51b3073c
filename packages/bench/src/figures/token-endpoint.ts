import { decodeProtectedHeader } from 'jose';
import {
  CLIENT_ALGORITHMS,
  generateBenchClientKeys,
  signTokenRequests,
  type AssertionTarget,
  type BenchClientKeys,
  type ClientAlgorithm,
} from '../assertions.js';
import { Campaign, alternate, type Target } from '../measure.js';
import type { BenchOptions } from '../options.js';
import { ratioOf, type Figure } from '../report.js';
import {
  registerBenchClient,
  reserveFhirBase,
  startAuthServer,
  startExpressFloor,
  startOidcProvider,
  type ProfileSettings,
} from '../servers.js';
import { measureCryptoFloor } from './crypto-floor.js';

/**
 * Figures 1 and 2: the token endpoint against oidc-provider (RS384 and ES384 assertions, each
 * request with a new pre-signed assertion), and against its floors — an empty Express 5 handler
 * and the per-token crypto cost.
 */

const FORM_HEADERS = {
  'content-type': 'application/x-www-form-urlencoded',
  accept: 'application/json',
};

export interface SectionResult {
  readonly figures: Figure[];
  readonly measurements: Record<string, unknown>[];
  readonly problems: string[];
}

export async function tokenEndpointFigures(
  options: BenchOptions,
  log: (line: string) => void,
  profile: ProfileSettings,
): Promise<SectionResult> {
  log('token endpoint: generating client keys, starting servers');
  const keys = await generateBenchClientKeys();
  const fhir = await reserveFhirBase();
  const ours = await startAuthServer({ name: 'auth-server', fhirBaseUrl: fhir.base, profile });
  const peer = await startOidcProvider(keys.jwks, fhir.base);
  const floor = await startExpressFloor();
  try {
    const oursTarget = await registerBenchClient(ours, keys.jwks);
    for (const alg of CLIENT_ALGORITHMS) {
      await checkTokenEndpoint('ours', keys, alg, oursTarget);
      await checkTokenEndpoint('oidc-provider', keys, alg, peer.target);
    }
    log('  both servers issue ES256 JWT access tokens for RS384 and ES384 assertions and refuse a replay');

    log('crypto floor: one RS384 verify + one ES256 sign per token, in-process');
    const floorAssertions = await signTokenRequests(keys, 'RS384', oursTarget, 256);
    const crypto = await measureCryptoFloor(keys, floorAssertions, options.quick ? 1 : 3);
    log(`  jose ${Math.round(crypto.jose)} tokens/s, node:crypto ${Math.round(crypto.nodeCrypto)} tokens/s`);

    const tokenTarget = (
      id: string,
      label: string,
      alg: ClientAlgorithm,
      target: AssertionTarget,
      serverPid: number,
    ): Target => ({
      id,
      label,
      prepare: async (amount) => ({
        serverPid,
        origin: new URL(target.tokenUrl).origin,
        method: 'POST',
        path: new URL(target.tokenUrl).pathname,
        headers: FORM_HEADERS,
        // A few more than sent: each connection builds its next request before the run stops.
        bodies: await signTokenRequests(keys, alg, target, amount + options.connections * 2 + 16),
      }),
    });
    const targets = {
      oursRS: tokenTarget('token.ours.RS384', 'ours RS384', 'RS384', oursTarget, ours.service.pid),
      peerRS: tokenTarget(
        'token.oidc-provider.RS384',
        'oidc-provider RS384',
        'RS384',
        peer.target,
        peer.service.pid,
      ),
      oursES: tokenTarget('token.ours.ES384', 'ours ES384', 'ES384', oursTarget, ours.service.pid),
      peerES: tokenTarget(
        'token.oidc-provider.ES384',
        'oidc-provider ES384',
        'ES384',
        peer.target,
        peer.service.pid,
      ),
    };
    // The same request bodies (RS384 assertions for ours, cycled: the handler ignores them).
    const floorBodies = await signTokenRequests(keys, 'RS384', oursTarget, 1000);
    const expressFloor: Target = {
      id: 'token.express-floor',
      label: 'empty Express 5 handler',
      prepare: async () => ({
        serverPid: floor.service.pid,
        origin: floor.service.url,
        method: 'POST',
        path: '/token',
        headers: FORM_HEADERS,
        bodies: floorBodies,
        cycleBodies: true,
      }),
    };

    const campaign = new Campaign(options, log);
    await alternate(
      campaign,
      options.rounds,
      [
        [targets.oursRS, targets.peerRS],
        [targets.oursES, targets.peerES],
      ],
      [expressFloor],
    );

    const figures: Figure[] = [];
    const problems: string[] = [];
    for (const alg of CLIENT_ALGORITHMS) {
      const o = campaign.summary(`token.ours.${alg}`);
      const p = campaign.summary(`token.oidc-provider.${alg}`);
      problems.push(...o.problems, ...p.problems);
      const clean = o.problems.length === 0 && p.problems.length === 0;
      const section = `Token ${alg}, c=${options.connections}`;
      const throughputRatio = ratioOf(o.rps, p.rps);
      figures.push({
        id: `token.${alg}.throughput`,
        section,
        name: 'throughput',
        ours: { value: o.rps, unit: 'req/s' },
        reference: { name: 'oidc-provider', value: p.rps, unit: 'req/s' },
        ratio: throughputRatio,
        ...(alg === 'RS384' && {
          target: '≥ 2×',
          met: clean && throughputRatio !== undefined && throughputRatio >= 2,
        }),
      });
      for (const [which, name] of [
        ['p50Ms', 'p50 latency'],
        ['p99Ms', 'p99 latency'],
      ] as const) {
        figures.push({
          id: `token.${alg}.${which === 'p50Ms' ? 'p50' : 'p99'}`,
          section,
          name,
          ours: { value: o[which], unit: 'ms' },
          reference: { name: 'oidc-provider', value: p[which], unit: 'ms' },
          ratio: ratioOf(o[which], p[which]),
        });
      }
      figures.push({
        id: `token.${alg}.server_cpu`,
        section,
        name: 'server CPU per token',
        ours: { value: o.serverCpuUs, unit: 'µs' },
        reference: { name: 'oidc-provider', value: p.serverCpuUs, unit: 'µs' },
        ratio: ratioOf(o.serverCpuUs, p.serverCpuUs),
        note: 'user + system time of the server process, all threads, divided by requests',
      });
    }
    const rs = campaign.summary('token.ours.RS384');
    const ex = campaign.summary('token.express-floor');
    problems.push(...ex.problems);
    figures.push(
      {
        id: 'floor.express',
        section: 'Floor',
        name: 'ours RS384 vs empty Express 5 POST handler',
        ours: { value: rs.rps, unit: 'req/s' },
        reference: { name: 'Express', value: ex.rps, unit: 'req/s' },
        ratio: ratioOf(rs.rps, ex.rps),
        note: 'framework ceiling: same machine, load generator and request bodies',
      },
      {
        id: 'floor.crypto.jose',
        section: 'Floor',
        name: 'ours RS384 vs crypto per core (jose)',
        ours: { value: rs.rps, unit: 'req/s' },
        reference: { name: 'verify+sign', value: crypto.jose, unit: 'tokens/s' },
        ratio: ratioOf(rs.rps, crypto.jose),
        note: 'one RS384 verify + one ES256 sign with jose (WebCrypto), keys reused, one at a time',
      },
      {
        id: 'floor.crypto.node',
        section: 'Floor',
        name: 'ours RS384 vs crypto per core (node:crypto)',
        ours: { value: rs.rps, unit: 'req/s' },
        reference: { name: 'verify+sign', value: crypto.nodeCrypto, unit: 'tokens/s' },
        ratio: ratioOf(rs.rps, crypto.nodeCrypto),
        note: "the same with node:crypto sign/verify on KeyObjects (the auth server's primitives)",
      },
    );
    return {
      figures,
      measurements: [
        ...campaign.measurements.map((m) => ({ section: 'token', ...m })),
        { section: 'token', target: 'floor.crypto', ...crypto },
      ],
      problems,
    };
  } finally {
    await Promise.all([ours.service.stop(), peer.service.stop(), floor.service.stop()]);
  }
}

/**
 * Before anything is timed: both servers grant a token for this flow, sign it with ES256 as an
 * RFC 9068 JWT, and refuse the same assertion a second time (both detect replay).
 */
async function checkTokenEndpoint(
  label: string,
  keys: BenchClientKeys,
  alg: ClientAlgorithm,
  target: AssertionTarget,
): Promise<void> {
  const [body] = await signTokenRequests(keys, alg, target, 1);
  const post = () => fetch(target.tokenUrl, { method: 'POST', headers: FORM_HEADERS, body });
  const first = await post();
  const answer = (await first.json()) as { access_token?: string; token_type?: string };
  if (first.status !== 200 || typeof answer.access_token !== 'string') {
    throw new Error(
      `${label} refused a valid ${alg} token request: ${first.status} ${JSON.stringify(answer)}`,
    );
  }
  const header = decodeProtectedHeader(answer.access_token);
  if (header.alg !== 'ES256' || header.typ !== 'at+jwt') {
    throw new Error(
      `${label} issued a ${String(header.alg)} ${String(header.typ)} token, expected ES256 at+jwt`,
    );
  }
  const replay = await post();
  await replay.arrayBuffer();
  if (replay.status === 200) throw new Error(`${label} accepted a replayed ${alg} assertion`);
}
