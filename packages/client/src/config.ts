/**
 * The only place this package reads the environment (STYLE: no process.env elsewhere). The library
 * reads nothing from it; the CLI takes these as fallbacks for flags.
 */
export interface CliEnvironment {
  /** SMART_ADMIN_TOKEN: the auth server's admin token for `register` when --admin-token is absent. */
  adminToken: string | undefined;
}

export function readCliEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const adminToken = env.SMART_ADMIN_TOKEN;
  return { adminToken: adminToken === undefined || adminToken === '' ? undefined : adminToken };
}
