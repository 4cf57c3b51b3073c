import { requestAccessToken } from '@smart-backend/client';
import { BENCH_SCOPE, generateBenchClientKeys } from '../assertions.js';
import { Campaign, alternate, type Target } from '../measure.js';
import type { BenchOptions } from '../options.js';
import { ratioOf, type Figure } from '../report.js';
import {
  registerBenchClient,
  reserveFhirBase,
  startAuthServer,
  startFhirApi,
  type ProfileSettings,
} from '../servers.js';
import type { SectionResult } from './token-endpoint.js';

/**
 * Figure 3: the FHIR API with real token verification (the product's dist/main.js, keys from our
 * auth server's JWKS) against the same app with verification switched off (bench-only entry), same
 * seeded data, same requests, same Authorization header. The client holds one access token and
 * reuses it, as SMART clients do; a fresh token is fetched before every measurement.
 */
export async function fhirApiFigures(
  options: BenchOptions,
  log: (line: string) => void,
  profile: ProfileSettings,
): Promise<SectionResult> {
  log('FHIR API: starting the auth server and both FHIR APIs (SEED=true)');
  const keys = await generateBenchClientKeys();
  const verifiedBase = await reserveFhirBase();
  const unverifiedBase = await reserveFhirBase();
  const auth = await startAuthServer({ name: 'auth-server-fhir', fhirBaseUrl: verifiedBase.base });
  const verified = await startFhirApi({
    name: 'fhir-api',
    port: verifiedBase.port,
    authUrl: auth.url,
    verified: true,
    profile,
  });
  const unverified = await startFhirApi({
    name: 'fhir-api-unverified',
    port: unverifiedBase.port,
    authUrl: auth.url,
    verified: false,
  });
  try {
    const client = await registerBenchClient(auth, keys.jwks);
    const freshToken = async () =>
      (
        await requestAccessToken({
          tokenUrl: client.tokenUrl,
          clientId: client.clientId,
          key: keys.keys.RS384.privateKeyPem,
          scope: BENCH_SCOPE,
        })
      ).access_token;

    // The same seeded patient and its observations exist on both.
    const token = await freshToken();
    const patientId = await firstPatientId(unverified.base, token);
    const paths = {
      read: `/fhir/Patient/${patientId}`,
      search: `/fhir/Observation?patient=${encodeURIComponent(`Patient/${patientId}`)}`,
    };
    for (const api of [verified, unverified]) {
      for (const path of Object.values(paths)) {
        const body = await getJson(`${new URL(api.base).origin}${path}`, token);
        if (path === paths.search && !((body.total as number) > 0 || (body.entry as unknown[])?.length > 0)) {
          throw new Error(`${api.service.name}: ${path} found nothing`);
        }
      }
    }
    log(`  Patient/${patientId} and its Observations answer 200 on both`);

    const fhirTarget = (
      id: string,
      label: string,
      api: { base: string; service: { pid: number } },
      path: string,
    ): Target => ({
      id,
      label,
      prepare: async () => ({
        serverPid: api.service.pid,
        origin: new URL(api.base).origin,
        method: 'GET',
        path,
        headers: { authorization: `Bearer ${await freshToken()}`, accept: 'application/fhir+json' },
      }),
    });
    const targets = {
      readOn: fhirTarget('fhir.read.verified', 'read, token verified', verified, paths.read),
      readOff: fhirTarget('fhir.read.unverified', 'read, verification off', unverified, paths.read),
      searchOn: fhirTarget('fhir.search.verified', 'search, token verified', verified, paths.search),
      searchOff: fhirTarget('fhir.search.unverified', 'search, verification off', unverified, paths.search),
    };
    const campaign = new Campaign(options, log);
    await alternate(campaign, options.rounds, [
      [targets.readOn, targets.readOff],
      [targets.searchOn, targets.searchOff],
    ]);

    const figures: Figure[] = [];
    const problems: string[] = [];
    for (const [kind, title] of [
      ['read', `GET /fhir/Patient/{id}, c=${options.connections}`],
      ['search', `GET /fhir/Observation?patient=…, c=${options.connections}`],
    ] as const) {
      const on = campaign.summary(`fhir.${kind}.verified`);
      const off = campaign.summary(`fhir.${kind}.unverified`);
      problems.push(...on.problems, ...off.problems);
      const ratio = ratioOf(on.rps, off.rps);
      figures.push(
        {
          id: `fhir.${kind}.throughput`,
          section: title,
          name: 'throughput',
          ours: { value: on.rps, unit: 'req/s' },
          reference: { name: 'verification off', value: off.rps, unit: 'req/s' },
          ratio,
          target: '≥ 0.9×',
          met: on.problems.length === 0 && off.problems.length === 0 && ratio !== undefined && ratio >= 0.9,
        },
        {
          id: `fhir.${kind}.p50`,
          section: title,
          name: 'p50 latency',
          ours: { value: on.p50Ms, unit: 'ms' },
          reference: { name: 'verification off', value: off.p50Ms, unit: 'ms' },
          ratio: ratioOf(on.p50Ms, off.p50Ms),
        },
        {
          id: `fhir.${kind}.p99`,
          section: title,
          name: 'p99 latency',
          ours: { value: on.p99Ms, unit: 'ms' },
          reference: { name: 'verification off', value: off.p99Ms, unit: 'ms' },
          ratio: ratioOf(on.p99Ms, off.p99Ms),
        },
      );
    }
    return {
      figures,
      measurements: campaign.measurements.map((m) => ({ section: 'fhir', ...m })),
      problems,
    };
  } finally {
    await Promise.all([auth.service.stop(), verified.service.stop(), unverified.service.stop()]);
  }
}

async function getJson(url: string, token: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

async function firstPatientId(base: string, token: string): Promise<string> {
  const bundle = (await getJson(`${base}/Patient?_count=1`, token)) as {
    entry?: { resource?: { id?: string } }[];
  };
  const id = bundle.entry?.[0]?.resource?.id;
  if (!id) throw new Error('the seeded FHIR API has no Patient');
  return id;
}
