// What node-oidc-provider does with DPoP (RFC 9449) in start.js's DPoP configuration, as
// facts: a standalone probe, independent of tokenlife's harness.
//
//   node dpop-probe.mjs            (after npm ci; about 10 s)
//
// It starts start.js itself three times (DPOP=1; DPOP=1 with short lifetimes for the
// expired cases; DPOP=1 DPOP_NONCE=1), runs authorization code flows with PKCE and
// refreshes with ES256 proofs made here with `jose`, and prints one line per fact: status
// codes, error codes and descriptions, whether a refresh token rotated or survived, what
// introspection and discovery say. No token, proof, key or secret is printed. Exit 0 when
// every probe got an answer, 1 when one failed to run.

import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';

const here = new URL('.', import.meta.url).pathname;

// start.js with `env` on a free port; resolves once its target file is written.
async function startProvider(env) {
  const dir = mkdtempSync(join(tmpdir(), 'dpop-probe-'));
  const targetFile = join(dir, 'target.toml');
  const child = spawn(process.execPath, ['start.js'], {
    cwd: here,
    env: { ...process.env, ...env, PORT: '0', TARGET_FILE: targetFile, GRANT_ERRORS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  const details = [];
  let partial = '';
  child.stderr.on('data', (d) => {
    errors += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const m = line.match(/^grant\.error \S+: (.*)$/);
      if (m) details.push(m[1]);
    }
  });
  const issuer = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^ready (\S+)$/m);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`start.js exited ${code}: ${errors}`)));
  });
  const target = readFileSync(targetFile, 'utf8');
  const secret = target.match(/^secret = "([^"]+)"$/m)[1];
  const redirectUri = target.match(/^redirect_uri = "([^"]+)"$/m)[1];
  const policy = target.slice(target.indexOf('[policy]'));
  return {
    issuer,
    redirectUri,
    policy,
    // The provider's internal reason for the last token endpoint refusal (start.js logs it
    // after answering, so wait a moment for the line).
    async lastDetail() {
      await new Promise((r) => { setTimeout(r, 50); });
      return details.at(-1);
    },
    clients: {
      confidential: { id: 'app-confidential', secret },
      public: { id: 'app-public' },
    },
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function newKey() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

// A DPoP proof (RFC 9449 §4.2); `over` replaces or adds claims (iat, htu, nonce, ...).
async function proof(key, htm, htu, over = {}) {
  const claims = { htm, htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...over };
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    .sign(key.privateKey);
}

const ath = (token) => createHash('sha256').update(token).digest('base64url');

// The authorization endpoint and the interaction redirects, cookies kept by name, up to the
// redirect to the client: its code.
async function authorize(srv, client, challenge) {
  const url = new URL(`${srv.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: client.id,
    response_type: 'code',
    redirect_uri: srv.redirectUri,
    scope: 'openid offline_access read write',
    prompt: 'consent',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  const jar = new Map();
  let next = url.href;
  for (let i = 0; i < 20; i++) {
    const res = await fetch(next, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`authorization stopped at ${res.status}`);
    const target = new URL(location, next);
    if (target.href.startsWith(srv.redirectUri)) {
      const code = target.searchParams.get('code');
      if (!code) throw new Error(`authorization refused: ${target.searchParams.get('error')}`);
      return code;
    }
    next = target.href;
  }
  throw new Error('too many redirects');
}

// One token endpoint request; `dpop`: a key (a fresh proof is signed), a proof string, or
// undefined (no header). The answer without any token value.
async function tokenRequest(srv, client, params, dpop, over = {}) {
  const url = `${srv.issuer}/token`;
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.secret) {
    headers.authorization = `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;
  } else {
    params = { ...params, client_id: client.id };
  }
  let sent;
  if (typeof dpop === 'string') sent = dpop;
  else if (dpop) sent = await proof(dpop, 'POST', url, over);
  if (sent) headers.dpop = sent;
  const res = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(params) });
  const body = await res.json();
  return {
    status: res.status,
    body,
    proof: sent,
    nonce: res.headers.get('dpop-nonce'),
    www: res.headers.get('www-authenticate'),
  };
}

async function codeFlow(srv, client, key, over) {
  const grant = await authorization(srv, client);
  return exchange(srv, client, grant, key, over);
}

async function authorization(srv, client) {
  const verifier = randomBytes(32).toString('base64url');
  const code = await authorize(srv, client, createHash('sha256').update(verifier).digest('base64url'));
  return { code, verifier };
}

const exchange = (srv, client, { code, verifier }, key, over) => tokenRequest(srv, client, {
  grant_type: 'authorization_code', code, redirect_uri: srv.redirectUri, code_verifier: verifier,
}, key, over);

const refresh = (srv, client, rt, dpop, over) => tokenRequest(srv, client, {
  grant_type: 'refresh_token', refresh_token: rt,
}, dpop, over);

async function introspect(srv, token) {
  const c = srv.clients.confidential;
  const res = await fetch(`${srv.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
  });
  return res.json();
}

async function resourceCall(srv, at, key, { scheme = 'DPoP', over = {}, proofString } = {}) {
  const url = `${srv.issuer}/api/resource`;
  const headers = { authorization: `${scheme} ${at}` };
  let sent = proofString;
  if (!sent && key) sent = await proof(key, 'GET', url, { ath: ath(at), ...over });
  if (sent) headers.dpop = sent;
  const res = await fetch(url, { headers });
  return { status: res.status, www: res.headers.get('www-authenticate'), proof: sent };
}

// An answer as a fact: status, error, description (never a token); for a token endpoint
// refusal, the provider's internal reason after it.
let current;
async function said(r) {
  const shown = answer(r);
  if (r.status === 400 && r.body?.error === 'invalid_grant' && current) {
    return `${shown} (reason: ${await current.lastDetail()})`;
  }
  return shown;
}

function answer(r) {
  if (r.status === 200) return r.body ? `200 token_type=${r.body.token_type}` : '200';
  const parts = [String(r.status)];
  if (r.body?.error) parts.push(r.body.error);
  if (r.body?.error_description) parts.push(`"${r.body.error_description}"`);
  if (r.www) parts.push(`WWW-Authenticate: ${r.www}`);
  if (r.nonce) parts.push('DPoP-Nonce: present');
  return parts.join(' ');
}

const facts = [];
function fact(name, value) {
  facts.push([name, value]);
  console.log(`${name}: ${value}`);
}

const rotated = (before, r) => (r.status !== 200 ? 'n/a (refused)'
  : r.body.refresh_token === undefined ? 'no refresh_token in the response'
    : r.body.refresh_token === before ? 'no (the same refresh token)' : 'yes (a new refresh token)');

async function bound(srv) {
  const k1 = await newKey();
  const k2 = await newKey();
  const pub = srv.clients.public;
  const conf = srv.clients.confidential;

  const disco = await (await fetch(`${srv.issuer}/.well-known/openid-configuration`)).json();
  fact('discovery dpop_signing_alg_values_supported', JSON.stringify(disco.dpop_signing_alg_values_supported));
  fact('target [policy]', srv.policy.split('\n').slice(1).filter(Boolean).join('; '));

  const g0 = await authorization(srv, pub);
  fact('public: code exchange without a proof', await said(await exchange(srv, pub, g0, undefined)));
  const g0retry = await exchange(srv, pub, g0, k1);
  fact('public: the same code with a proof after that', await said(g0retry));
  // A replayed proof at the code exchange: the replay is checked after the code is consumed
  // (helpers/grant_common.js issueTokens -> applyDpopBinding -> checkDpopReplay).
  const g1 = await authorization(srv, pub);
  fact('public: code exchange with a replayed proof', await said(await exchange(srv, pub, g1, g0retry.proof)));
  fact('public: the same code with a fresh proof after that', await said(await exchange(srv, pub, g1, k1)));
  const first = await codeFlow(srv, pub, k1);
  fact('public: code exchange with a proof', await said(first));
  let rt = first.body.refresh_token;
  const at0 = first.body.access_token;
  const introAt = await introspect(srv, at0);
  fact('introspection of a DPoP-bound access token', JSON.stringify({
    active: introAt.active, token_type: introAt.token_type, cnf_jkt_is_key: introAt.cnf?.jkt === k1.thumbprint,
  }));
  const introRt = await introspect(srv, rt);
  fact('introspection of the public refresh token (by the confidential client)', JSON.stringify({ active: introRt.active, cnf: introRt.cnf ? Object.keys(introRt.cnf) : undefined }));

  const r1 = await refresh(srv, pub, rt, k1);
  fact('public: refresh with its key', await said(r1));
  fact('public: refresh token rotates', rotated(rt, r1));
  if (r1.body.refresh_token) rt = r1.body.refresh_token;

  fact('public: refresh without a proof', await said(await refresh(srv, pub, rt, undefined)));
  fact('public: refresh with another key', await said(await refresh(srv, pub, rt, k2)));
  const after = await refresh(srv, pub, rt, k1);
  fact('public: refresh with its key after those two', `${await said(after)}; rotated: ${rotated(rt, after)}`);

  const ok = await refresh(srv, pub, rt, k1);
  const replay = await refresh(srv, pub, rt, ok.proof);
  fact('public: refresh with a replayed proof (same jti, accepted once before)', await said(replay));
  // A proof whose request was refused before the replay check (an unknown token), sent
  // again with the real token: is its jti remembered?
  const early = await refresh(srv, pub, 'not-a-token', k1);
  fact('public: a proof first sent with an unknown token', await said(early));
  fact('public: the same proof then with the real token', await said(await refresh(srv, pub, rt, early.proof)));
  fact('public: refresh with a wrong htu', await said(await refresh(srv, pub, rt, k1, { htu: `${srv.issuer}/other` })));
  fact('public: refresh with htu carrying a query', await said(await refresh(srv, pub, rt, k1, { htu: `${srv.issuer}/token?x=1` })));
  fact('public: refresh with htm GET', await said(await refresh(srv, pub, rt, k1, { htm: 'GET' })));
  const now = Math.floor(Date.now() / 1000);
  fact('public: refresh with iat 120 s old', await said(await refresh(srv, pub, rt, k1, { iat: now - 120 })));
  fact('public: refresh with iat 301 s old', await said(await refresh(srv, pub, rt, k1, { iat: now - 301 })));
  fact('public: refresh with iat 400 s ahead', await said(await refresh(srv, pub, rt, k1, { iat: now + 400 })));
  fact('public: refresh with its key after every fault', await said(await refresh(srv, pub, rt, k1)));
  const introRt2 = await introspect(srv, rt);
  fact('public: refresh token still active after the faults', String(introRt2.active));

  // The resource (start.js + dpop.js, not the provider's code).
  const last = await refresh(srv, pub, rt, k1);
  const at = last.body.access_token;
  fact('resource: DPoP scheme, good proof', await said(await resourceCall(srv, at, k1)));
  fact('resource: Bearer scheme, no proof', await said(await resourceCall(srv, at, undefined, { scheme: 'Bearer' })));
  fact('resource: DPoP scheme, no proof', await said(await resourceCall(srv, at, undefined)));
  fact('resource: proof by another key', await said(await resourceCall(srv, at, k2)));
  fact('resource: wrong ath', await said(await resourceCall(srv, at, k1, { over: { ath: ath('another token') } })));
  const good = await resourceCall(srv, at, k1);
  fact('resource: replayed proof', await said(await resourceCall(srv, at, undefined, { proofString: good.proof })));
  fact('resource: iat 301 s old', await said(await resourceCall(srv, at, k1, { over: { iat: now - 301 } })));

  // Confidential client: its refresh token is not bound; a new key moves the access token.
  const c0 = await codeFlow(srv, conf, k1);
  fact('confidential: code exchange with a proof', await said(c0));
  const c1 = await refresh(srv, conf, c0.body.refresh_token, k2);
  fact('confidential: refresh with a new key', await said(c1));
  fact('confidential: refresh token rotates', rotated(c0.body.refresh_token, c1));
  if (c1.status === 200) {
    const i = await introspect(srv, c1.body.access_token);
    fact('confidential: new access token bound to the new key (introspection cnf.jkt)', String(i.cnf?.jkt === k2.thumbprint));
    fact('resource: confidential new access token with the old key', await said(await resourceCall(srv, c1.body.access_token, k1)));
    fact('resource: confidential new access token with the new key', await said(await resourceCall(srv, c1.body.access_token, k2)));
    fact('confidential: refresh without a proof', await said(await refresh(srv, conf, c1.body.refresh_token, undefined)));
    // A consumed (rotated) token with a faulty proof: does reuse detection act?
    const c0rt = c0.body.refresh_token;
    fact('confidential: consumed refresh token without a proof', await said(await refresh(srv, conf, c0rt, undefined)));
    fact('confidential: consumed refresh token with a replayed proof', await said(await refresh(srv, conf, c0rt, c1.proof)));
    fact('confidential: consumed refresh token with a wrong htu', await said(await refresh(srv, conf, c0rt, k2, { htu: `${srv.issuer}/other` })));
    const live = await refresh(srv, conf, c1.body.refresh_token, k2);
    fact('confidential: its successor after those three', `${await said(live)}; rotated: ${rotated(c1.body.refresh_token, live)}`);
    c1.body.refresh_token = live.body.refresh_token ?? c1.body.refresh_token;
    // A consumed (rotated) token, presented with yet another key: reuse detection?
    const k3 = await newKey();
    fact('confidential: consumed refresh token with a third key', await said(await refresh(srv, conf, c0.body.refresh_token, k3)));
    fact('confidential: its successor after that', await said(await refresh(srv, conf, c1.body.refresh_token, k2)));
  }
}

async function expired(srv) {
  const k1 = await newKey();
  const k2 = await newKey();
  const pub = srv.clients.public;
  const first = await codeFlow(srv, pub, k1);
  const rt = first.body.refresh_token;
  await new Promise((r) => { setTimeout(r, 4500); });
  fact('public: expired refresh token with another key', await said(await refresh(srv, pub, rt, k2)));
  fact('public: expired refresh token without a proof', await said(await refresh(srv, pub, rt, undefined)));
  fact('public: expired refresh token with its key', await said(await refresh(srv, pub, rt, k1)));
}

async function nonce(srv) {
  const k1 = await newKey();
  const pub = srv.clients.public;
  const conf = srv.clients.confidential;
  const grant = await authorization(srv, pub);
  const first = await exchange(srv, pub, grant, k1);
  fact('nonce: code exchange without a nonce', await said(first));
  const second = await exchange(srv, pub, grant, k1, { nonce: first.nonce });
  fact('nonce: the same code with the nonce', await said(second));
  const rt = second.body.refresh_token;
  const challenge = await refresh(srv, pub, rt, k1);
  fact('nonce: refresh without a nonce', await said(challenge));
  const retry = await refresh(srv, pub, rt, k1, { nonce: challenge.nonce });
  fact('nonce: the same refresh token with the nonce', await said(retry));
  fact('nonce: a 200 carries a DPoP-Nonce', String(retry.nonce !== null));
  fact('nonce: a made-up nonce', await said(await refresh(srv, pub, rt, k1, { nonce: 'made-up' })));
  fact('nonce: a nonce-less proof with iat 301 s old', await said(await refresh(srv, pub, rt, k1, { iat: Math.floor(Date.now() / 1000) - 301 })));
  const at = retry.body.access_token;
  if (at) fact('nonce: resource call without a nonce (the resource demands none)', await said(await resourceCall(srv, at, k1)));
  // A rotating (confidential) refresh token: does the challenge consume it?
  const c0 = await exchange(srv, conf, await authorization(srv, conf), k1, { nonce: challenge.nonce });
  const crt = c0.body.refresh_token;
  const cChallenge = await refresh(srv, conf, crt, k1);
  fact('nonce: confidential refresh without a nonce', await said(cChallenge));
  const cRetry = await refresh(srv, conf, crt, k1, { nonce: cChallenge.nonce });
  fact('nonce: the same confidential refresh token with the nonce', `${await said(cRetry)}; rotated: ${rotated(crt, cRetry)}`);
  fact('nonce: the consumed confidential refresh token, no nonce', await said(await refresh(srv, conf, crt, k1)));
  const after = await refresh(srv, conf, cRetry.body.refresh_token, k1, { nonce: cChallenge.nonce });
  fact('nonce: its successor after that, with the nonce', await said(after));
}

let failed = false;
for (const [name, env, run] of [
  ['DPOP=1', { DPOP: '1' }, bound],
  ['DPOP=1 ACCESS_TTL=2 REFRESH_TTL=3', { DPOP: '1', ACCESS_TTL: '2', REFRESH_TTL: '3' }, expired],
  ['DPOP=1 DPOP_NONCE=1', { DPOP: '1', DPOP_NONCE: '1' }, nonce],
]) {
  console.log(`== ${name}`);
  const srv = await startProvider(env);
  current = srv;
  try {
    await run(srv);
  } catch (err) {
    failed = true;
    console.error(`probe failed under ${name}: ${err.message}`);
  } finally {
    srv.stop();
  }
}
process.exit(failed ? 1 : 0);
