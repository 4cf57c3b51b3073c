import base from '../../jest.base.js';

// Every test here drives real processes (both apps, CLIs, deployment bundles): on a loaded 2-core
// machine starting them takes seconds each, so the bound that catches a hang is a minute.
export default { ...base, testTimeout: 60_000 };
