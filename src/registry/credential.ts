import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { AzureCliCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { CredentialKind } from '../config.js';

/**
 * A static token, for the local ACR emulator only: config.ts refuses it for any registry endpoint that is
 * not on a loopback address, so it never reaches a real service.
 */
export class EmulatorCredential implements TokenCredential {
  async getToken(): Promise<AccessToken> {
    return { token: 'acr-emulator-entra-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

/** The credential the config asks for: managed identity in Azure, the developer's login on a laptop. */
export function createCredential(credential: { kind: CredentialKind; clientId?: string }): TokenCredential {
  switch (credential.kind) {
    case 'managed-identity':
      return credential.clientId ? new ManagedIdentityCredential({ clientId: credential.clientId }) : new ManagedIdentityCredential();
    case 'azure-cli':
      return new AzureCliCredential();
    case 'emulator':
      return new EmulatorCredential();
    case 'default':
      return new DefaultAzureCredential(credential.clientId ? { managedIdentityClientId: credential.clientId } : {});
  }
}
