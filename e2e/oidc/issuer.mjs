// The external OAuth issuer of the e2e `oauth` scenario: the certified OpenID Connect
// implementation `oidc-provider`, configured for machine clients. Access tokens are JWTs whose
// audience is the resource (RFC 8707 resource indicators): the governed server's MCP URL.
//
// Usage: node issuer.mjs <port> [issuer-url] [listen-host] — prints "ready <issuer>" once it
// listens. Locally the issuer is http://127.0.0.1:<port>; in a cluster (e2e/kind) it is the
// provider's Service URL and it listens on every interface.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node issuer.mjs <port> [issuer-url] [listen-host]');
  process.exit(64);
}
const issuer = process.argv[3] || `http://127.0.0.1:${port}`;
const host = process.argv[4] || '127.0.0.1';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-issuer', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'e2e-agent',
      client_secret: 'e2e-agent-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ['mcp'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: 'mcp',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: () => ({ team_id: 'team-a' }),
});
provider.proxy = true;
provider.listen(port, host, () => console.log(`ready ${issuer}`));
