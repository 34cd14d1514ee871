// A real OpenID Connect provider (panva's oidc-provider) for ChatQL's sign-in tests.
//
// Configured by the environment:
//   OIDC_PORT           port to listen on (loopback only); the issuer is http://localhost:PORT
//   OIDC_CLIENT_ID      the one client's id
//   OIDC_CLIENT_SECRET  its secret (client_secret_basic or client_secret_post)
//   OIDC_REDIRECT_URIS  comma-separated PREFIXES: any redirect_uri starting with one is allowed,
//                       because ChatQL's callback port is only known once each test starts it
//
// Sign-in uses the provider's built-in development interactions: a login form (any login, any
// password) and a consent form. The claims follow from the login typed (see claimsFor); the
// account id, which oidc-provider always uses as the sub claim, is "sub-" + login, so that a
// relying party mixing up sub and email is caught. Prints "READY <issuer>" once it listens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectPrefixes = required('OIDC_REDIRECT_URIS').split(',').map((s) => s.trim()).filter(Boolean);
const issuer = `http://localhost:${port}`;

// "alice@example.com" -> email alice@example.com (verified), preferred_username alice, name Alice;
// "bob+unverified@example.com" -> the same shape with email_verified false;
// a login without "@" has no email claim at all.
const SUB_PREFIX = 'sub-';

function claimsFor(login) {
  const at = login.lastIndexOf('@');
  const local = at === -1 ? login : login.slice(0, at);
  const username = local.split('+')[0] || local;
  const claims = {
    sub: SUB_PREFIX + login,
    preferred_username: username,
    name: username.charAt(0).toUpperCase() + username.slice(1),
  };
  if (at !== -1) {
    claims.email = login;
    claims.email_verified = !local.includes('+unverified');
  }
  return claims;
}

// A fresh RS256 signing key each run: the keys are public at /jwks, so nothing needs to persist.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      // never matched as such: redirectUriAllowed below checks the prefixes instead
      redirect_uris: ['http://127.0.0.1/unused-see-OIDC_REDIRECT_URIS'],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      // a secret sent in the body (client_secret_post) is accepted for this method too
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  // the placeholder above must never stand in for a missing redirect_uri
  allowOmittingSingleRegisteredRedirectUri: false,
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  // the scopes' claims go into the ID token as well, not only to /me (userinfo)
  conformIdTokenClaims: false,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
  },
  async findAccount(_ctx, id) {
    if (!id.startsWith(SUB_PREFIX)) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return claimsFor(id.slice(SUB_PREFIX.length));
      },
    };
  },
  async renderError(ctx, out, error) {
    console.error('oidc-provider error page:', out, error?.stack ?? error);
    ctx.type = 'json';
    ctx.body = out;
  },
});

// The dev login form finishes with { login: { accountId: <login typed> } }: make that the sub.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  const accountId = result?.login?.accountId;
  if (typeof accountId === 'string' && !accountId.startsWith(SUB_PREFIX)) {
    result = { ...result, login: { ...result.login, accountId: SUB_PREFIX + accountId } };
  }
  return interactionFinished(req, res, result, options);
};

provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return typeof value === 'string' && redirectPrefixes.some((prefix) => value.startsWith(prefix));
};

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    console.error(`${event}:`, err?.message ?? '', err?.error_description ?? '');
  });
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
