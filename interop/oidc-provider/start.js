// node-oidc-provider as a tokenlife target: the package configured, not modified.
//
// Starts the provider on 127.0.0.1 (port $PORT, default 0 = any free port), then writes a
// tokenlife target file for it to $TARGET_FILE (default ./target.toml) and prints
// `ready <issuer>` on stdout. Stop it with SIGTERM or SIGINT.
//
// What is configured, and why (each knob is node-oidc-provider's own configuration):
// - grants: authorization_code + refresh_token; two clients, a confidential one
//   (client_secret_basic) and a public one (none + PKCE, which the provider requires for it);
// - scopes openid, offline_access, read, write (or $SCOPES: e.g. "openid offline_access api",
//   the common set-up with one resource scope); a refresh token is issued only for
//   offline_access, which the provider keeps only with prompt=consent (OIDC Core §11);
// - rotateRefreshToken: true — every refresh rotates, for both client types;
// - ttl.AccessToken / ttl.RefreshToken from $ACCESS_TTL / $REFRESH_TTL (seconds), the same
//   fresh lifetime for every refresh token, rotated ones included;
// - features.revocation and features.introspection on, their default allowedPolicy;
// - an interaction route that logs the test user in and grants every requested scope
//   without any page, redirecting back (so tokenlife's authorize mode "redirect" works);
// - /api/resource: a protected resource that looks the access token up in the provider and
//   answers 401 with `WWW-Authenticate: Bearer error="invalid_token"` when it is dead; with
//   $SCOPES, 403 `insufficient_scope` (RFC 6750 §3.1) for a live token without its resource
//   scopes;
// - with $DPOP=1, DPoP (RFC 9449) as a second configuration: see dpop.js for what it changes
//   (both clients DPoP-bound, rotation only of refresh tokens that are not sender-constrained,
//   the resource checking proofs, policy-dpop.toml); $DPOP_NONCE=1 adds the server nonce.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

import MapAdapter from './adapter.js';
import * as dpop from './dpop.js';

const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT ?? 0);
const TARGET_FILE = process.env.TARGET_FILE ?? 'target.toml';
const ACCESS_TTL = seconds('ACCESS_TTL', 5);
const REFRESH_TTL = seconds('REFRESH_TTL', 10);
// Long enough to outlive any run: a grant or session that expired would end its families.
const LONG_TTL = seconds('LONG_TTL', 24 * 60 * 60);
// The provider counts whole seconds (iat = floor(now)), so a token can die up to 1 s before
// its TTL; the other second covers sub-second latency (tokenlife widens the skew by itself
// for exchanges that take whole seconds).
const SKEW = process.env.SKEW ?? '2s';
// The policy the target declares: policy.toml (what node-oidc-provider does), or with
// $PROFILE a built-in profile to compare against (e.g. PROFILE=bcp).
const PROFILE = process.env.PROFILE ?? '';
const ACCOUNT = 'alice';
// $SCOPES: the scopes both clients are registered for (and the provider knows); those other
// than openid and offline_access are resource scopes, which the resource then requires.
const SCOPE = scopes(process.env.SCOPES);
const RESOURCE_SCOPES = process.env.SCOPES
  ? SCOPE.split(' ').filter((s) => s !== 'openid' && s !== 'offline_access')
  : [];
// $DPOP=1: the DPoP configuration (dpop.js); $DPOP_NONCE=1 on top: the server nonce.
const DPOP = flag('DPOP');
const DPOP_NONCE = flag('DPOP_NONCE');
if (DPOP_NONCE && !DPOP) {
  console.error('DPOP_NONCE=1 needs DPOP=1');
  process.exit(2);
}

function flag(name) {
  const raw = process.env[name];
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  console.error(`${name} must be 1 or 0, not ${JSON.stringify(raw)}`);
  process.exit(2);
}

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`${name} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

function scopes(raw) {
  if (raw === undefined || raw.trim() === '') return 'openid offline_access read write';
  const list = raw.trim().split(/\s+/);
  if (!list.every((s) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) {
    console.error(`SCOPES must be space-separated scope tokens (RFC 6749 §3.3), not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return [...new Set(list)].join(' ');
}

// A fresh signing key per start: the provider refuses to run in production mode on its
// development keys, and tokenlife never needs to verify ID tokens.
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'tokenlife', use: 'sig', alg: 'RS256' };
}

function configuration(redirectUri, confidentialSecret) {
  return {
    adapter: MapAdapter,
    clients: [
      {
        client_id: 'app-confidential',
        client_secret: confidentialSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        scope: SCOPE,
        ...(DPOP ? dpop.CLIENT_METADATA : {}),
      },
      {
        client_id: 'app-public',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        scope: SCOPE,
        ...(DPOP ? dpop.CLIENT_METADATA : {}),
      },
    ],
    scopes: SCOPE.split(' '),
    claims: { openid: ['sub'] },
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      ...(DPOP ? { dPoP: dpop.feature(DPOP_NONCE) } : {}),
    },
    interactions: {
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}`;
      },
    },
    rotateRefreshToken: DPOP ? dpop.rotateRefreshToken : true,
    ttl: {
      AccessToken: ACCESS_TTL,
      RefreshToken: REFRESH_TTL,
      AuthorizationCode: 60,
      IdToken: LONG_TTL,
      Interaction: 10 * 60,
      Session: LONG_TTL,
      Grant: LONG_TTL,
    },
  };
}

// The login and consent prompts, answered at once: the test user is logged in, and each
// consent creates a new grant with every scope asked for, so every authorization starts its
// own token family (tokenlife's model: one Authorize, one family).
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  res.statusCode = 400;
  res.end(`unexpected prompt ${prompt.name}`);
}

// RFC 6750 §3.1: a missing, expired or revoked access token is 401 invalid_token. With
// $DPOP, dpop.js reads the request (RFC 9449 §7.1: the `DPoP` scheme and a proof for the
// token's key) and the challenges use the DPoP scheme.
async function resource(provider, req, res, url) {
  const found = DPOP ? await dpop.accessToken(provider, req, url) : await bearerToken(provider, req);
  const scheme = DPOP ? 'DPoP' : 'Bearer';
  if (found.refusal) {
    res.statusCode = 401;
    const params = ['realm="tokenlife"'];
    if (found.refusal.error) params.push(`error="${found.refusal.error}"`);
    if (DPOP) params.push(`algs="${dpop.ALGS.join(' ')}"`);
    res.setHeader('WWW-Authenticate', `${scheme} ${params.join(', ')}`);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ error: found.refusal.error ?? 'invalid_token' }));
    return;
  }
  const { token } = found;
  const granted = new Set((token.scope ?? '').split(' '));
  const missing = RESOURCE_SCOPES.filter((s) => !granted.has(s));
  if (missing.length > 0) {
    res.statusCode = 403;
    res.setHeader('WWW-Authenticate',
      `${scheme} realm="tokenlife", error="insufficient_scope", scope="${RESOURCE_SCOPES.join(' ')}"`);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ error: 'insufficient_scope' }));
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify({ sub: token.accountId, scope: token.scope ?? '' }));
}

// A bearer token looked up in the provider: live, and of a grant that still exists.
async function bearerToken(provider, req) {
  const header = req.headers.authorization ?? '';
  const value = header.match(/^Bearer\s+(\S+)$/i)?.[1];
  const token = value ? await provider.AccessToken.find(value) : undefined;
  const grant = token?.isValid && token.grantId ? await provider.Grant.find(token.grantId) : undefined;
  if (!token?.isValid || (token.grantId && !grant)) {
    return { refusal: { error: value ? 'invalid_token' : undefined } };
  }
  return { token };
}

// The knobs of policy.toml, or policy-dpop.toml with $DPOP (flat `key = value` lines),
// comments dropped; with $DPOP_NONCE, the nonce knob after them.
function policyKnobs() {
  const nonce = DPOP_NONCE ? '\ndpop_nonce = true' : '';
  if (PROFILE) return `profile = "${PROFILE}"${nonce}`;
  const file = new URL(DPOP ? './policy-dpop.toml' : './policy.toml', import.meta.url);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .join('\n') + nonce;
}

function targetToml(issuer, redirectUri, confidentialSecret) {
  return `# Written by interop/oidc-provider/start.js for this run of node-oidc-provider.
[server]
issuer = "${issuer}"
resource_url = "${issuer}/api/resource"

[[clients]]
id = "app-confidential"
secret = "${confidentialSecret}"
auth = "client_secret_basic"
redirect_uri = "${redirectUri}"
scope = "${SCOPE}"${DPOP ? '\ndpop = true' : ''}

[[clients]]
id = "app-public"
auth = "none"
redirect_uri = "${redirectUri}"
scope = "${SCOPE}"${DPOP ? '\ndpop = true' : ''}

[authorize]
mode = "redirect"
# offline_access survives only with prompt=consent (OIDC Core §11; lib/actions/authorization/scopes.js)
params = { prompt = "consent" }

[clock]
mode = "real"
skew = "${SKEW}"

[policy]
${policyKnobs()}
access_ttl = "${ACCESS_TTL}s"
refresh_ttl = "${REFRESH_TTL}s"
`;
}

const server = createServer();
// Keep idle connections longer than a client's pool does: Node's 5 s default closes them
// while the harness may be reusing one, which it sees as a reset connection.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const redirectUri = `${issuer}/cb`;
  const confidentialSecret = randomBytes(24).toString('hex');
  const provider = new Provider(issuer, configuration(redirectUri, confidentialSecret));
  const oidc = provider.callback();
  // Failed authorization requests and internal errors go to stderr (the ci log): the
  // harness sees only a status code. Token endpoint refusals are the suite's business.
  provider.on('authorization.error', (ctx, err) => {
    console.error(`authorization.error ${ctx.path}: ${err.error ?? err.name}: ${err.error_description ?? err.message}`);
  });
  // $GRANT_ERRORS=1 (dpop-probe.mjs): each token endpoint refusal's internal reason, which
  // the provider keeps out of the response (error_detail: a fixed text, never a token).
  if (flag('GRANT_ERRORS')) {
    provider.on('grant.error', (ctx, err) => {
      console.error(`grant.error ${err.error}: ${err.error_detail ?? err.error_description}`);
    });
  }
  provider.on('server_error', (ctx, err) => {
    console.error(`server_error ${ctx.path}:`, err);
  });

  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let handled;
    if (req.method === 'GET' && path.startsWith('/interaction/')) {
      handled = interaction(provider, req, res);
    } else if (req.method === 'GET' && path === '/api/resource') {
      handled = resource(provider, req, res, `${issuer}/api/resource`);
    } else if (req.method === 'GET' && path === '/cb') {
      res.setHeader('Content-Type', 'text/plain');
      res.end('authorization response received\n');
      return;
    } else {
      oidc(req, res);
      return;
    }
    handled.catch((err) => {
      console.error(err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
    });
  });

  writeFileSync(TARGET_FILE, targetToml(issuer, redirectUri, confidentialSecret));
  console.log(`ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
