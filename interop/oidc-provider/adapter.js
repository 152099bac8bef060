// A storage adapter for node-oidc-provider (its `adapter` configuration option): plain Maps
// in this process, each entry kept until its own expiry, with no size limit.
//
// Why not the provider's built-in development adapter: it keeps everything in one LRU
// cache of 1,000 entries (lib/adapters/memory_adapter.js, createStorage), and a tokenlife run
// creates tens of thousands of interactions, sessions, grants and tokens; evicted ones made
// live tokens look revoked and interactions vanish mid-login. A real deployment uses a
// database adapter; this one keeps the same contract (upsert, find, findByUid,
// findByUserCode, consume, destroy, revokeByGrantId) without the cap.

const entries = new Map(); // `${model}:${id}` -> { payload, expiresAt (ms) | undefined }
const grantMembers = new Map(); // grantId -> Set of entry keys
const sessionUids = new Map(); // session uid -> session id
const userCodes = new Map(); // user code -> device code id

const SWEEP_MS = 10_000;

function live(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    forget(key);
    return undefined;
  }
  return entry;
}

function forget(key) {
  const entry = entries.get(key);
  if (!entry) return;
  entries.delete(key);
  const { grantId, uid, userCode } = entry.payload;
  if (grantId) grantMembers.get(grantId)?.delete(key);
  if (uid && sessionUids.get(uid) === key.slice(key.indexOf(':') + 1)) sessionUids.delete(uid);
  if (userCode) userCodes.delete(userCode);
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) {
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) forget(key);
  }
  for (const [grantId, members] of grantMembers) {
    if (members.size === 0) grantMembers.delete(grantId);
  }
}, SWEEP_MS).unref();

export default class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    forget(key);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    entries.set(key, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
    if (payload.userCode) userCodes.set(payload.userCode, id);
  }

  async find(id) {
    return live(this.key(id))?.payload;
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = live(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    forget(this.key(id));
  }

  // Removes this model's entries of the grant (the provider calls it once per token model).
  async revokeByGrantId(grantId) {
    const members = grantMembers.get(grantId);
    if (!members) return;
    for (const key of [...members]) {
      if (key.startsWith(`${this.model}:`)) {
        entries.delete(key);
        members.delete(key);
      }
    }
  }
}
