// A technician device (WatermelonDB + LokiJS in memory) and an office user (REST), both
// talking to the real server over loopback HTTP.
//
// The device syncs with WatermelonDB's own `synchronize()`; only pullChanges/pushChanges
// (the app's transport, which every WatermelonDB app writes itself) live here.
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'

import {
  makeModelClasses,
  migrations,
  migrationsV1,
  modelClasses,
  schema,
  schemaV2,
} from './schema.mjs'

const require = createRequire(import.meta.url)
const { Database, Q } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { hasUnsyncedChanges, synchronize } = require('@nozbe/watermelondb/sync')
const { setGenerator } = require('@nozbe/watermelondb/utils/common/randomId')
const { default: defaultRandomId } = require('@nozbe/watermelondb/utils/common/randomId/randomId')

const { LokiMemoryAdapter } = require('lokijs')

export { LokiMemoryAdapter, Q, defaultRandomId }

// The server keys rows by canonical UUIDs (append-only rows are insert-if-absent by id), so
// the app plugs a UUID generator into WatermelonDB's documented id hook.
setGenerator(() => randomUUID())

export const BASE_URL = process.env.E2E_BASE_URL || 'http://127.0.0.1:5000'
export const PASSWORD = process.env.E2E_PASSWORD || 'demo-password-2026'
export const DOMAIN = process.env.E2E_DOMAIN || 'shenhu.example'

// --- WatermelonDB log capture --------------------------------------------------------------
// WatermelonDB reports recoverable sync anomalies (e.g. "Server wants client to create
// record ... but it already exists locally") through console.error/warn. Keep them, tagged
// with the device that was syncing, so the test can assert on them.
export const watermelonLog = []
let currentDevice = null
for (const level of ['error', 'warn', 'log']) {
  console[level] = (...args) => {
    const text = args
      .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)))
      .join(' ')
    if (level !== 'log') watermelonLog.push({ device: currentDevice, level, text })
    // stdout carries the scenario's JSON result only.
    process.stderr.write(`[${level}${currentDevice ? ` ${currentDevice}` : ''}] ${text}\n`)
  }
}

// --- HTTP ----------------------------------------------------------------------------------
export class HttpError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path} -> ${status}: ${JSON.stringify(body)}`)
    this.status = status
    this.body = body
  }
}

const TRACE = process.env.E2E_TRACE === '1'

export async function http(method, path, { token, body, headers = {}, expect } = {}) {
  const started = TRACE ? performance.now() : 0
  const res = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: {
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  let parsed = null
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  if (TRACE) {
    const took = (performance.now() - started).toFixed(0)
    process.stderr.write(`[http] ${method} ${path.slice(0, 90)} -> ${res.status} ${took}ms\n`)
  }
  const out = { status: res.status, headers: res.headers, body: parsed }
  if (expect !== undefined && !(Array.isArray(expect) ? expect : [expect]).includes(res.status)) {
    throw new HttpError(method, path, res.status, parsed)
  }
  return out
}

export async function login(who) {
  const email = who.includes('@') ? who : `${who}@${DOMAIN}`
  const r = await http('POST', '/api/v1/auth/login', {
    body: { email, password: PASSWORD },
    expect: 200,
  })
  return { email, token: r.body.access_token, user: r.body.user }
}

// --- a technician device -------------------------------------------------------------------
let deviceCounter = 0

export class Device {
  /** One app install: its own in-memory LokiJS database and its own X-Device-Id. */
  constructor(session, name, { timestamps = false, version = 1, storage = null, deviceId } = {}) {
    this.session = session
    this.name = name || `${session.email.split('@')[0]}-device-${++deviceCounter}`
    this.deviceId = deviceId || `e2e-${this.name}-${randomUUID()}`
    this.version = version
    // A LokiJS persistence adapter shared across app versions: what survives an upgrade.
    this.storage = storage
    this.pulls = []
    this.pushes = []
    // The timestamp of this install's last sync if that sync had nothing to push: edits
    // since were made against it (X-Sync-Clean-Through), see sync/README.md.
    this.cleanThrough = null
    this.faults = {} // test hooks: { losePushResponses: n, failPushAfterServer: n }
    const adapter = new LokiJSAdapter({
      schema: version === 2 ? schemaV2 : schema,
      migrations: version === 2 ? migrations : migrationsV1,
      ...(storage ? { _testLokiAdapter: storage } : {}),
      dbName: this.deviceId,
      // Node has no Web Worker and no IndexedDB: run Loki in-process and let WatermelonDB
      // fall back to LokiJS's in-memory adapter. No autosave timer keeps Node alive.
      useWebWorker: false,
      useIncrementalIndexedDB: false,
      extraLokiOptions: { autosave: false },
      onSetUpError: (error) => {
        throw error
      },
    })
    this.adapter = adapter
    this.db = new Database({
      adapter,
      modelClasses:
        timestamps || version !== 1 ? makeModelClasses({ timestamps, version }) : modelClasses,
    })
  }

  /** The app is updated to schema version 2: same install, same data, migrations run. */
  async upgraded() {
    const loki = this.adapter._driver.loki
    await new Promise((resolve, reject) =>
      loki.saveDatabase((error) => (error ? reject(error) : resolve())),
    )
    const next = new Device(this.session, `${this.name}-v2`, {
      version: 2,
      storage: this.storage,
      deviceId: this.deviceId,
    })
    next.cleanThrough = this.cleanThrough
    return next
  }

  static async open(who, name, options) {
    return new Device(await login(who), name, options)
  }

  get token() {
    return this.session.token
  }

  /** Which LokiJS persistence adapter backs this database (after the first operation). */
  persistenceAdapter() {
    return this.adapter._driver?.loki?.persistenceAdapter?.constructor?.name ?? null
  }

  async pullChanges({ lastPulledAt, schemaVersion, migration }) {
    const query = new URLSearchParams({
      last_pulled_at: lastPulledAt == null ? 'null' : String(lastPulledAt),
      schema_version: String(schemaVersion),
      migration: migration ? JSON.stringify(migration) : 'null',
    })
    const headers = { 'X-Device-Id': this.deviceId }
    // A pull made with nothing unpushed says so: only such a pull may bring the drop of an
    // order reassigned away (a drop destroys unpushed edits), see sync/README.md.
    if (lastPulledAt != null && !(await hasUnsyncedChanges({ database: this.db }))) {
      headers['X-Sync-Clean-Through'] = String(lastPulledAt)
      headers['X-Sync-Pending'] = '0'
    } else if (this.cleanThrough != null) {
      headers['X-Sync-Clean-Through'] = String(this.cleanThrough)
      headers['X-Sync-Pending'] = '1'
    }
    const r = await http('GET', `/api/v1/sync?${query}`, { token: this.token, headers })
    if (r.status !== 200) throw new HttpError('GET', '/api/v1/sync', r.status, r.body)
    const { changes, timestamp, experimentalStrategy } = r.body
    this.pulls.push({ lastPulledAt, schemaVersion, migration, timestamp, experimentalStrategy, changes })
    return experimentalStrategy ? { changes, timestamp, experimentalStrategy } : { changes, timestamp }
  }

  async pushChanges({ changes, lastPulledAt }) {
    // One key per push attempt, reused on every retry of that attempt: the server applies
    // it once and answers a retry with the stored response.
    const key = randomUUID()
    const record = { key, lastPulledAt, changes, attempts: [], response: null }
    this.pushes.push(record)
    for (let attempt = 1; ; attempt++) {
      let r
      try {
        r = await http('POST', `/api/v1/sync?last_pulled_at=${lastPulledAt}`, {
          token: this.token,
          body: changes,
          headers: { 'X-Device-Id': this.deviceId, 'Idempotency-Key': key },
        })
      } catch (error) {
        record.attempts.push({ attempt, error: String(error) })
        if (attempt >= 4) throw error
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
        continue
      }
      if (this.faults.losePushResponses > 0) {
        // The server answered, but the answer never reached the phone (timeout, tunnel...).
        this.faults.losePushResponses--
        record.attempts.push({ attempt, status: r.status, lost: true })
        continue
      }
      if (this.faults.failPushAfterServer > 0) {
        // Same, and the app gives up on this synchronize() altogether.
        this.faults.failPushAfterServer--
        record.attempts.push({ attempt, status: r.status, lost: true, gaveUp: true })
        throw new Error('simulated network failure after the server applied the push')
      }
      record.attempts.push({ attempt, status: r.status })
      if ((r.status >= 500 || r.status === 409) && attempt < 4) {
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
        continue
      }
      record.response = r.body
      record.status = r.status
      if (r.status !== 200) throw new HttpError('POST', '/api/v1/sync', r.status, r.body)
      return {}
    }
  }

  /** WatermelonDB's synchronize() against the server; returns what moved. */
  async sync() {
    const pullsBefore = this.pulls.length
    const pushesBefore = this.pushes.length
    const log = {}
    currentDevice = this.name
    let error = null
    try {
      await synchronize({
        database: this.db,
        pullChanges: (args) => this.pullChanges(args),
        pushChanges: (args) => this.pushChanges(args),
        migrationsEnabledAtVersion: 1,
        log,
      })
    } catch (e) {
      error = String(e && e.message ? e.message : e)
    } finally {
      currentDevice = null
    }
    // synchronize() pushes only when it has local changes: a sync that pulled and pushed
    // nothing proves the device held no unpushed edit when it applied that pull.
    const pulled = this.pulls.slice(pullsBefore)
    const pushed = this.pushes.length > pushesBefore
    this.cleanThrough = !error && !pushed && pulled.length ? pulled[pulled.length - 1].timestamp : null
    return {
      error,
      pulls: this.pulls.slice(pullsBefore),
      pushes: this.pushes.slice(pushesBefore),
      resolvedConflicts: log.resolvedConflicts || [],
    }
  }

  async mustSync() {
    const result = await this.sync()
    if (result.error) throw new Error(`${this.name}: synchronize() failed: ${result.error}`)
    return result
  }

  async find(table, id) {
    const rows = await this.db.get(table).query(Q.where('id', id)).fetch()
    return rows.length ? { ...rows[0]._raw } : null
  }

  async record(table, id) {
    const rows = await this.db.get(table).query(Q.where('id', id)).fetch()
    return rows[0] || null
  }

  async all(table, ...conditions) {
    const rows = await this.db.get(table).query(...conditions).fetch()
    return rows.map((r) => ({ ...r._raw }))
  }

  async count(table) {
    return this.db.get(table).query().fetchCount()
  }

  async ids(table) {
    return (await this.all(table)).map((r) => r.id).sort()
  }

  /** Edit a record through the model (as app code would), inside a writer. */
  async update(table, id, changes) {
    const record = await this.record(table, id)
    if (!record) throw new Error(`${this.name}: ${table}#${id} not on the device`)
    await this.db.write(() =>
      record.update((r) => {
        Object.assign(r, changes)
      }),
    )
    return { ...record._raw }
  }

  /** Create a record offline; WatermelonDB generates the id. */
  async create(table, values) {
    let created
    await this.db.write(async () => {
      created = await this.db.get(table).create((r) => {
        Object.assign(r, values)
      })
    })
    return { ...created._raw }
  }

  async markAsDeleted(table, id) {
    const record = await this.record(table, id)
    await this.db.write(() => record.markAsDeleted())
  }
}

// --- the office ----------------------------------------------------------------------------
export class Office {
  /** A dispatcher using the REST API. */
  constructor(session) {
    this.session = session
  }

  static async open(who = 'dispatcher1') {
    return new Office(await login(who))
  }

  req(method, path, options = {}) {
    return http(method, path, { token: this.session.token, ...options })
  }

  async get(path) {
    return (await this.req('GET', path, { expect: 200 })).body
  }

  async technicianId(session) {
    this.technicians ||= await this.get('/api/v1/technicians?page_size=200')
    const techs = this.technicians
    const tech = techs.find((t) => t.user_id === session.user.id)
    if (!tech) throw new Error(`no technician record for ${session.email}`)
    return tech.id
  }

  async order(id) {
    return this.get(`/api/v1/work-orders/${id}`)
  }

  /** PATCH with If-Match from a fresh GET, as a careful office client does. */
  async patchOrder(id, changes) {
    const current = await this.req('GET', `/api/v1/work-orders/${id}`, { expect: 200 })
    const etag = current.headers.get('etag')
    const r = await this.req('PATCH', `/api/v1/work-orders/${id}`, {
      body: changes,
      headers: { 'If-Match': etag },
      expect: 200,
    })
    return r.body
  }

  async transition(id, body) {
    return (
      await this.req('POST', `/api/v1/work-orders/${id}/transitions`, { body, expect: 200 })
    ).body
  }

  /** A site none of the given technicians has an order at (so scope moves are clean). */
  async freeSite(technicianIds, offset = 0) {
    const busy = new Set()
    for (const tech of technicianIds) {
      for (const o of await this.get(`/api/v1/work-orders?technician_id=${tech}&page_size=200`)) {
        busy.add(o.site_id)
      }
    }
    this.sites ||= await this.get('/api/v1/sites?page_size=200')
    const sites = this.sites
    const free = sites.filter((s) => !busy.has(s.id))
    return free[(offset * 7) % free.length]
  }

  /** A fresh order dispatched to `lead` (created now, so device times after it are valid). */
  async dispatchedOrder({ lead, helpers = [], title, siteOffset = 0 }) {
    const site = await this.freeSite([lead, ...helpers], siteOffset)
    const start = new Date(Date.now() + 2 * 3600 * 1000)
    const end = new Date(start.getTime() + 2 * 3600 * 1000)
    const created = (
      await this.req('POST', '/api/v1/work-orders', {
        body: {
          title: title || 'E2E order',
          order_type: 'repair',
          site_id: site.id,
          priority: 'normal',
          lead_technician_id: lead,
          helper_ids: helpers,
          scheduled_start: start.toISOString(),
          scheduled_end: end.toISOString(),
        },
        expect: 201,
      })
    ).body
    await this.transition(created.id, { to: 'scheduled' })
    await this.transition(created.id, { to: 'dispatched' })
    return { order: await this.order(created.id), site }
  }

  async conflicts(query = '') {
    return this.get(`/api/v1/sync/conflicts?page_size=200${query ? `&${query}` : ''}`)
  }
}

/** What a brand-new install of `session` would receive: the server's current truth. */
export async function freshPull(session) {
  const r = await http('GET', '/api/v1/sync?last_pulled_at=null&schema_version=1', {
    token: session.token,
    headers: { 'X-Device-Id': `e2e-probe-${randomUUID()}` },
    expect: 200,
  })
  return r.body
}

export function rowIn(pull, table, id) {
  const t = pull.changes[table]
  return t.created.find((r) => r.id === id) || t.updated.find((r) => r.id === id) || null
}

export function bucketsOf(pulls, table, id) {
  // Which buckets of which pulls mentioned this row, e.g. ["updated"].
  const out = []
  for (const p of pulls) {
    const t = p.changes[table]
    if (!t) continue
    if (t.created.some((r) => r.id === id)) out.push('created')
    if (t.updated.some((r) => r.id === id)) out.push('updated')
    if (t.deleted.includes(id)) out.push('deleted')
  }
  return out
}
