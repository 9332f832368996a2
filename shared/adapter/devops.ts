/**
 * The agent's side of the run records (shared/devops/): the run context from
 * the agent's variables, the job's access token (a secret), the agent's proxy.
 */
import * as adapter from '../adapter';
import { runContext, type DevOpsAccess } from '../devops';
import type { NetworkLimits } from '../net/timeouts';

export function devopsAccess(limits?: NetworkLimits): DevOpsAccess {
  const proxy = adapter.agentProxy();
  return {
    context: runContext(adapter.getVariable),
    token: adapter.jobAccessToken(),
    logger: adapter.taskLogger,
    timeoutMs: limits?.idleTimeoutMs,
    proxy: proxy.proxyUrl ? { proxyUrl: proxy.proxyUrl, proxyBypassHosts: proxy.bypassPatterns } : undefined,
  };
}
