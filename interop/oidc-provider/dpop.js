// The DPoP configuration of start.js ($DPOP=1): node-oidc-provider's DPoP feature
// (RFC 9449) as a second configuration, with its public options only.
//
// - features.dPoP on (9.x has it on by default; it is named here so the configuration says
//   what it relies on), with $DPOP_NONCE=1 a nonce secret and `requireNonce` always true:
//   a proof without the server's nonce is answered 400 `use_dpop_nonce` + `DPoP-Nonce`
//   (lib/helpers/validate_dpop.js, before the refresh token is even looked up).
// - Both clients registered with `dpop_bound_access_tokens: true` (RFC 9449 §5.2): every
//   token request without a proof is refused (lib/helpers/sender_constraints.js,
//   checkDpopRequired).
// - rotateRefreshToken: rotate exactly the refresh tokens that are not sender-constrained.
//   The provider binds a public client's refresh token to the proof's key and leaves a
//   confidential client's unbound (lib/helpers/set_rt_bindings.js), so the public client's
//   token is never rotated and the confidential client's always is: RFC 9700 §2.2.2's two
//   branches, `bcp-dpop`. The provider's default would rotate a bound token once 70% of
//   its lifetime has passed (lib/helpers/defaults.js, rotateRefreshToken), which depends
//   on when the client refreshes and is no policy the suite can state.
// - The resource (`accessToken` below) checks a DPoP-bound access token's proof the way
//   the provider's own userinfo endpoint does (lib/shared/access_token.js and
//   validate_dpop.js), with `jose`, the JOSE library the provider itself uses.

import { createHash, randomBytes } from 'node:crypto';

import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

// The provider's default `dPoPSigningAlgValues` (lib/helpers/defaults.js), so the resource
// accepts what the token endpoint accepts.
export const ALGS = ['ES256', 'Ed25519', 'EdDSA'];

// How far a proof's iat may be from now without a nonce: the provider's own window
// (lib/helpers/challenge.js, CHALLENGE_OK_WINDOW = 5 steps of 60 s), so the resource and
// the token endpoint agree.
const IAT_WINDOW = 300;

export const CLIENT_METADATA = { dpop_bound_access_tokens: true };

export function feature(nonce) {
  return {
    enabled: true,
    ...(nonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
  };
}

export function rotateRefreshToken(ctx) {
  return !ctx.oidc.entities.RefreshToken.isSenderConstrained();
}

// jti -> the second after which a proof with it could no longer pass the iat window: a
// proof is accepted once (RFC 9449 §11.1), and forgotten when it could not pass anyway.
const seen = new Map();

function fresh(jkt, jti, iat) {
  const now = Math.floor(Date.now() / 1000);
  if (seen.size > 10_000) {
    for (const [key, until] of seen) if (until < now) seen.delete(key);
  }
  const key = `${jkt}:${jti}`;
  if (seen.has(key)) return false;
  seen.set(key, iat + IAT_WINDOW);
  return true;
}

// The proof of a resource request (RFC 9449 §4.3, §7.1), or why it is refused: its
// signature by the embedded public key, typ, alg, iat window, jti, htm, htu (query and
// fragment ignored) and ath (the access token's hash). Nothing of the proof is logged.
async function checkProof(proof, req, url, accessToken) {
  try {
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: ALGS,
      typ: 'dpop+jwt',
    });
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_WINDOW) return undefined;
    if (typeof payload.jti !== 'string' || !payload.jti) return undefined;
    if (payload.htm !== req.method) return undefined;
    const htu = typeof payload.htu === 'string' ? URL.parse(payload.htu) : null;
    if (!htu) return undefined;
    htu.search = '';
    htu.hash = '';
    if (htu.href !== new URL(url).href) return undefined;
    const ath = createHash('sha256').update(accessToken).digest('base64url');
    if (payload.ath !== ath) return undefined;
    return { thumbprint: await calculateJwkThumbprint(protectedHeader.jwk), jti: payload.jti, iat: payload.iat };
  } catch {
    return undefined;
  }
}

// The access token of a resource request in the DPoP configuration, or the refusal: no
// token (401, no error code, RFC 6750 §3.1); a proof that fails a check or was seen before:
// `invalid_dpop_proof`; a dead token, a DPoP-bound token without a proof or sent as a bearer
// token, a proof by another key than the token's `jkt`, or a proof with an unbound token:
// `invalid_token` (as the provider's userinfo answers them: lib/shared/access_token.js).
export async function accessToken(provider, req, url) {
  const match = (req.headers.authorization ?? '').match(/^(DPoP|Bearer)\s+(\S+)$/i);
  if (!match) return { refusal: {} };
  const [, scheme, value] = match;
  const dpopScheme = scheme.toLowerCase() === 'dpop';
  const header = req.headersDistinct?.dpop ?? [];
  if (header.length > 1) return { refusal: { error: 'invalid_dpop_proof' } };
  let proof;
  if (header.length === 1) {
    proof = await checkProof(header[0], req, url, value);
    if (!proof) return { refusal: { error: 'invalid_dpop_proof' } };
  }
  const token = await provider.AccessToken.find(value);
  const grant = token?.isValid && token.grantId ? await provider.Grant.find(token.grantId) : undefined;
  if (!token?.isValid || (token.grantId && !grant)) return { refusal: { error: 'invalid_token' } };
  if (token.jkt) {
    if (!dpopScheme || !proof || proof.thumbprint !== token.jkt) return { refusal: { error: 'invalid_token' } };
  } else if (dpopScheme || proof) {
    return { refusal: { error: 'invalid_token' } };
  }
  if (proof && !fresh(proof.thumbprint, proof.jti, proof.iat)) {
    return { refusal: { error: 'invalid_dpop_proof' } };
  }
  return { token };
}
