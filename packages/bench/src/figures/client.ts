import { BackendServicesClient } from '@smart-backend/client';
import { BENCH_SCOPE, generateBenchClientKeys } from '../assertions.js';
import type { BenchOptions } from '../options.js';
import type { Figure } from '../report.js';
import { registerBenchClient, reserveFhirBase, startAuthServer, startFhirApi } from '../servers.js';
import type { Service } from '../processes.js';
import type { SectionResult } from './token-endpoint.js';

/**
 * Figure 4: one BackendServicesClient, empty token cache, 100 concurrent `request()` calls against
 * the real FHIR API → exactly one token request, counted at the server from its audit log (one
 * `"event":"token"` line per decision, granted or refused).
 */
export const CONCURRENT_CALLS = 100;

export async function clientFigures(
  _options: BenchOptions,
  log: (line: string) => void,
): Promise<SectionResult> {
  log(`client: ${CONCURRENT_CALLS} concurrent request() calls on an empty token cache`);
  const keys = await generateBenchClientKeys();
  const fhirPort = await reserveFhirBase();
  const auth = await startAuthServer({ name: 'auth-server-client', fhirBaseUrl: fhirPort.base });
  const fhir = await startFhirApi({
    name: 'fhir-api-client',
    port: fhirPort.port,
    authUrl: auth.url,
    verified: true,
  });
  try {
    const { clientId } = await registerBenchClient(auth, keys.jwks);
    const client = new BackendServicesClient({
      fhirBaseUrl: fhir.base,
      clientId,
      privateKey: keys.keys.ES384.privateKeyPem,
      scope: BENCH_SCOPE,
    });
    const offset = auth.service.logOffset();
    const started = performance.now();
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT_CALLS }, () =>
        client.request('Patient', { searchParams: { _count: '1' } }),
      ),
    );
    const wallMs = performance.now() - started;
    const ok = responses.filter((r) => r.status === 200).length;
    const { granted, refused } = countTokenDecisions(auth.service, offset);
    log(
      `  ${ok}/${CONCURRENT_CALLS} answered 200; the auth server saw ${granted} granted, ${refused} refused token requests`,
    );
    const problems =
      ok === CONCURRENT_CALLS ? [] : [`client: only ${ok} of ${CONCURRENT_CALLS} calls answered 200`];
    const figures: Figure[] = [
      {
        id: 'client.token_requests',
        section: 'Client',
        name: `token requests for ${CONCURRENT_CALLS} concurrent request() calls, empty cache`,
        ours: { value: granted + refused, unit: 'requests' },
        target: 'exactly 1',
        met: granted === 1 && refused === 0 && ok === CONCURRENT_CALLS,
        note: `counted from the auth server's audit log; all ${CONCURRENT_CALLS} calls took ${Math.round(wallMs)} ms`,
      },
    ];
    return {
      figures,
      measurements: [{ section: 'client', calls: CONCURRENT_CALLS, ok, granted, refused, wallMs }],
      problems,
    };
  } finally {
    await Promise.all([auth.service.stop(), fhir.service.stop()]);
  }
}

/** Token decisions in the audit log since `offset`. */
export function countTokenDecisions(service: Service, offset: number): { granted: number; refused: number } {
  let granted = 0;
  let refused = 0;
  for (const line of service.logSince(offset)) {
    let entry: { event?: unknown; outcome?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.event !== 'token') continue;
    if (entry.outcome === 'granted') granted++;
    else refused++;
  }
  return { granted, refused };
}
