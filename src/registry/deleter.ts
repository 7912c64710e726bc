import type { ContainerRegistryClient } from '@azure/container-registry';
import type { FullOperationResponse } from '@azure/core-client';
import { executeDeletions, type ExecutionContext, type ExecutorOptions } from '../deletion/executor.js';
import type { OpenIntent } from '../deletion/journal.js';
import { reconcileIntents, type CheckTiming, type ReconciledIntent } from '../deletion/reconcile.js';
import type { ManifestState, RegistryPort } from '../deletion/statusPolicy.js';
import type { DeletionExecutor } from '../pass.js';
import { recheckBeforeDeletion, type Plan } from '../plan/plan.js';
import type { Policy } from '../plan/policy.js';
import type { ExecutionReport } from '../report.js';
import type { RunBudget } from './budget.js';
import { createRegistryClient, type RegistryConnection } from './acr.js';

export interface DeleterOptions extends ExecutorOptions {
  /** Injected in tests: makes one SDK client per worker. */
  clientFactory?: () => ContainerRegistryClient;
}

/** The production re-check: the planner's own-state rules, applied to the manifest as it is now. */
export function policyRecheck(policy: Policy, clock: () => Date, readsPerMinute: number): NonNullable<ExecutorOptions['recheck']> {
  return {
    readsPerMinute,
    keepReason: (current) => {
      const reason = recheckBeforeDeletion(current, policy, clock());
      return reason === undefined ? undefined : `kept after all: re-read just before deleting, it is now ${reason} (changed since the listing)`;
    },
  };
}

/**
 * One worker's registry access through the SDK: a client for deletes and another for the re-check's reads (so the
 * delete client's token keeps its scope); after a 401 both are replaced, which makes the next request fetch fresh
 * tokens instead of reusing a revoked refresh token.
 */
class SdkRegistryPort implements RegistryPort {
  private deleteClient: ContainerRegistryClient;
  private readClient: ContainerRegistryClient | undefined;

  constructor(private readonly newClient: () => ContainerRegistryClient) {
    this.deleteClient = newClient();
  }

  async deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<number> {
    let status = 0;
    await this.deleteClient.getArtifact(repository, digest).delete({
      abortSignal: signal,
      onResponse: (raw: FullOperationResponse) => {
        status = raw.status;
      },
    });
    return status;
  }

  async readManifest(repository: string, digest: string, signal: AbortSignal): Promise<ManifestState> {
    this.readClient ??= this.newClient();
    const current = await this.readClient.getArtifact(repository, digest).getManifestProperties({ abortSignal: signal });
    return { canDelete: current.canDelete !== false && current.canWrite !== false, tags: current.tags ?? [], createdOn: current.createdOn, lastUpdatedOn: current.lastUpdatedOn };
  }

  renewCredentials(): void {
    this.deleteClient = this.newClient();
    this.readClient = undefined;
  }
}

/** Executes a plan's deletions against a live registry (see {@link executeDeletions}). */
export class AcrDeleter implements DeletionExecutor {
  constructor(
    private readonly connection: RegistryConnection | undefined,
    private readonly options: DeleterOptions,
  ) {}

  execute(plan: Plan, context: ExecutionContext): Promise<ExecutionReport> {
    return executeDeletions(plan, () => this.port(), this.options, context);
  }

  /** What the registry says now about the intents earlier runs left open (see {@link reconcileIntents}). */
  reconcile(intents: readonly OpenIntent[], budget: RunBudget, timing: CheckTiming = {}): Promise<ReconciledIntent[]> {
    return reconcileIntents(intents, () => this.port(), { ...timing, budget, readsPerMinute: this.options.recheck?.readsPerMinute ?? 1000, concurrency: this.options.concurrency, retry: this.options.retry });
  }

  private port(): RegistryPort {
    return new SdkRegistryPort(() => this.options.clientFactory?.() ?? createRegistryClient(this.connection!));
  }
}
