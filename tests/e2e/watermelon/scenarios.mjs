// End-to-end sync scenarios: `node scenarios.mjs <name>...` runs them in order and prints
// one JSON line, `{"<name>": <report>, ...}` (a crashed scenario reports `crashed`).
//
// Each scenario creates its own work order through the REST API (as a dispatcher) for its
// own technicians, so scenarios do not depend on each other or on their order. The Python
// test (tests/e2e/test_watermelondb_client.py) asserts on the JSON; this file only acts and
// observes.
import { randomUUID } from 'node:crypto'

import {
  Device,
  LokiMemoryAdapter,
  Office,
  Q,
  bucketsOf,
  defaultRandomId,
  freshPull,
  http,
  login,
  rowIn,
  watermelonLog,
} from './client.mjs'

const ms = (iso) => (iso == null ? null : Date.parse(iso))
// Where the current scenario's entries start in the shared WatermelonDB log.
let logStart = 0
const syncErrors = (device) =>
  watermelonLog
    .slice(logStart)
    .filter((e) => e.text.includes('[Sync]') && (!device || e.device === device.name))
const pushSummary = (push) =>
  push && {
    key: push.key,
    status: push.status,
    attempts: push.attempts,
    response: push.response,
  }
const localOrderChildren = async (device, orderId, table) =>
  device.all(table, Q.where('work_order_id', orderId))

async function setup(office, leads) {
  const sessions = {}
  const ids = {}
  for (const who of leads) {
    sessions[who] = await login(who)
    ids[who] = await office.technicianId(sessions[who])
  }
  return { sessions, ids }
}

const SCENARIOS = {
  /** (12) The app is upgraded to schema 2: WatermelonDB migrates, the migration sync fills it. */
  async schema_migration() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech06'])
    const { order } = await office.dispatchedOrder({ lead: ids.tech06, title: 'E2E migration' })
    const storage = new LokiMemoryAdapter()
    const v1 = new Device(sessions.tech06, 'v1-app', { storage })
    const first = await v1.mustSync()
    await v1.update('work_orders', order.id, { technicianNotes: 'written on version 1' })
    const v2 = await v1.upgraded() // local edit not pushed yet: it must survive the upgrade
    const second = await v2.mustSync()
    const pull = second.pulls[0]
    const templates = await office.get('/api/v1/checklist-templates?active=true&page_size=200')
    const local = await v2.find('work_orders', order.id)
    return {
      v1_tables: Object.keys(first.pulls[0].changes).sort(),
      v2_schema_version: pull.schemaVersion,
      migration: pull.migration,
      template_buckets: Object.fromEntries(
        ['created', 'updated'].map((b) => [b, pull.changes.checklist_templates?.[b]?.length]),
      ),
      order_bucket: bucketsOf(second.pulls, 'work_orders', order.id),
      local_templates: (await v2.all('checklist_templates')).map((t) => t.id).sort(),
      server_templates: templates.map((t) => t.id).sort(),
      local_kb: (await v2.all('kb_articles')).length,
      order_has_new_columns: local && 'checklist_template_id' in local && 'due_at' in local,
      order_template: local && local.checklist_template_id,
      server_order_template: (await office.order(order.id)).checklist_template_id,
      pushed: second.pushes[0]?.response?.updated,
      server_notes: rowIn(await freshPull(v2.session), 'work_orders', order.id).technician_notes,
      sync_errors: syncErrors(),
    }
  },

  /** (1) First sync of tech01: their orders and every row those orders reference. */
  async first_sync() {
    const office = await Office.open()
    const device = await Device.open('tech01')
    const first = await device.mustSync()
    const pull = first.pulls[0]
    const tables = Object.keys(pull.changes)
    const pulled = Object.fromEntries(
      tables.map((t) => [t, pull.changes[t].created.length + pull.changes[t].updated.length]),
    )
    const local = {}
    const notSynced = []
    for (const t of tables) {
      const rows = await device.all(t)
      local[t] = rows.length
      notSynced.push(...rows.filter((r) => r._status !== 'synced').map((r) => `${t}/${r.id}`))
    }
    const orders = await device.all('work_orders')
    const have = (t) => new Set(pull.changes[t].created.map((r) => r.id))
    const localIds = {}
    for (const t of ['customers', 'sites', 'equipment']) localIds[t] = new Set(await device.ids(t))
    const dangling = []
    for (const o of orders) {
      if (!localIds.customers.has(o.customer_id)) dangling.push(`customer ${o.customer_id}`)
      if (!localIds.sites.has(o.site_id)) dangling.push(`site ${o.site_id}`)
      if (o.equipment_id && !localIds.equipment.has(o.equipment_id)) {
        dangling.push(`equipment ${o.equipment_id}`)
      }
    }
    const techId = await office.technicianId(device.session)
    const rest = await office.get(`/api/v1/work-orders?technician_id=${techId}&page_size=200`)
    // Field fidelity: the first order on the device against the REST representation.
    const sample = orders.slice().sort((a, b) => a.number.localeCompare(b.number))[0]
    const restSample = await office.order(sample.id)
    const second = await device.mustSync()
    return {
      persistence: device.persistenceAdapter(),
      technician_id: techId,
      pulled,
      local,
      not_synced: notSynced,
      device_order_ids: orders.map((o) => o.id).sort(),
      rest_orders: rest.map((o) => ({ id: o.id, status: o.status })),
      all_pulled_parts_active: pull.changes.parts.created.every((p) => p.active === true),
      dangling,
      orders_reference_pulled_rows: orders.every(
        (o) => have('customers').has(o.customer_id) && have('sites').has(o.site_id),
      ),
      sample: {
        device: {
          number: sample.number,
          status: sample.status,
          priority: sample.priority,
          lead_technician_id: sample.lead_technician_id,
          helper_ids: JSON.parse(sample.helper_ids),
          scheduled_start: sample.scheduled_start,
          scheduled_end: sample.scheduled_end,
          lat: sample.lat,
          lon: sample.lon,
          required_skills: JSON.parse(sample.required_skills),
        },
        rest: {
          number: restSample.number,
          status: restSample.status,
          priority: restSample.priority,
          lead_technician_id: restSample.lead_technician_id,
          helper_ids: restSample.helper_ids.slice().sort(),
          scheduled_start: ms(restSample.scheduled_start),
          scheduled_end: ms(restSample.scheduled_end),
          lat: restSample.location?.lat ?? null,
          lon: restSample.location?.lon ?? null,
          required_skills: restSample.required_skills,
        },
      },
      first_timestamp: pull.timestamp,
      second: {
        pushes: second.pushes.length,
        last_pulled_at: second.pulls[0].lastPulledAt,
        changed_rows: Object.values(second.pulls[0].changes).reduce(
          (n, t) => n + t.created.length + t.updated.length + t.deleted.length,
          0,
        ),
      },
      sync_errors: syncErrors(device),
    }
  },

  /** (2) Offline technician_notes edit + office priority edit: both survive everywhere. */
  async different_fields() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech02'])
    const { order } = await office.dispatchedOrder({ lead: ids.tech02, title: 'E2E different fields' })
    const device = new Device(sessions.tech02)
    await device.mustSync()
    const before = await device.find('work_orders', order.id)
    const notes = `Offline ${randomUUID().slice(0, 8)}: door sensor dirty, cleaned it`
    const edited = await device.update('work_orders', order.id, { technicianNotes: notes })
    const patched = await office.patchOrder(order.id, { priority: 'urgent' })
    const sync = await device.mustSync()
    const afterSync = await device.find('work_orders', order.id)
    await device.mustSync()
    const steady = await device.find('work_orders', order.id)
    const server = rowIn(await freshPull(device.session), 'work_orders', order.id)
    return {
      order_id: order.id,
      notes,
      before: { priority: before.priority, technician_notes: before.technician_notes },
      local_edit: { _status: edited._status, _changed: edited._changed },
      office_priority: patched.priority,
      pushed: sync.pushes.map((p) => ({
        last_pulled_at: p.lastPulledAt,
        rows: p.changes.work_orders.updated.map((r) => ({ id: r.id, _changed: r._changed })),
      })),
      push_response: sync.pushes[0]?.response,
      resolved_locally: sync.resolvedConflicts.map((c) => ({
        local_priority: c.local.priority,
        remote_priority: c.remote.priority,
        resolved_priority: c.resolved.priority,
        resolved_notes: c.resolved.technician_notes,
      })),
      device_after_sync: pick(afterSync, ['priority', 'technician_notes', '_status', '_changed']),
      device_steady: pick(steady, ['priority', 'technician_notes', '_status', '_changed']),
      server_rest_priority: (await office.order(order.id)).priority,
      server_row: pick(server, ['priority', 'technician_notes']),
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
      sync_errors: syncErrors(device),
    }
  },

  /** (3) Same field, two technicians sharing an order: last pusher wins, loser is logged. */
  async same_field() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech03', 'tech04'])
    const { order } = await office.dispatchedOrder({
      lead: ids.tech03,
      title: 'E2E same field',
      siteOffset: 1,
    })
    const shared = await office.patchOrder(order.id, { helper_ids: [ids.tech04] })
    const lead = new Device(sessions.tech03, 'lead-phone')
    const helper = new Device(sessions.tech04, 'helper-phone')
    await lead.mustSync()
    await helper.mustSync()
    const leadText = 'lead: replaced the door sensor'
    const helperText = 'helper: cleaned the door rail'
    await lead.update('work_orders', order.id, { technicianNotes: leadText })
    await helper.update('work_orders', order.id, { technicianNotes: helperText })
    const leadPush = await lead.mustSync() // first pusher
    const helperPush = await helper.mustSync() // last pusher: wins
    await lead.mustSync()
    await helper.mustSync()
    const server = rowIn(await freshPull(lead.session), 'work_orders', order.id)
    const conflicts = (await office.conflicts(`row_id=${order.id}`)).map(conflictView)
    return {
      order_id: order.id,
      helper_ids: shared.helper_ids,
      lead_text: leadText,
      helper_text: helperText,
      lead_push_response: leadPush.pushes[0]?.response,
      helper_push_response: helperPush.pushes[0]?.response,
      helper_resolved_locally: helperPush.resolvedConflicts.map((c) => ({
        local: c.local.technician_notes,
        remote: c.remote.technician_notes,
        resolved: c.resolved.technician_notes,
      })),
      server_notes: server.technician_notes,
      lead_device_notes: (await lead.find('work_orders', order.id)).technician_notes,
      helper_device_notes: (await helper.find('work_orders', order.id)).technician_notes,
      conflicts,
      sync_errors: syncErrors(),
    }
  },

  /** (3b) Sequential edits (each device saw the other's value first) are not conflicts. */
  async sequential_edits() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech12', 'tech13'])
    const { order } = await office.dispatchedOrder({
      lead: ids.tech12,
      helpers: [ids.tech13],
      title: 'E2E sequential edits',
      siteOffset: 2,
    })
    const lead = new Device(sessions.tech12, 'lead-phone')
    const helper = new Device(sessions.tech13, 'helper-phone')
    await lead.mustSync()
    await helper.mustSync()
    await lead.update('work_orders', order.id, { technicianNotes: 'lead: first visit notes' })
    await lead.mustSync()
    await helper.mustSync() // receives the lead's notes; nothing local to push
    const seen = (await helper.find('work_orders', order.id)).technician_notes
    await helper.update('work_orders', order.id, {
      technicianNotes: `${seen}\nhelper: added after reading the lead's notes`,
    })
    const helperPush = await helper.mustSync()
    await lead.mustSync()
    return {
      order_id: order.id,
      helper_saw: seen,
      helper_push_response: helperPush.pushes[0]?.response,
      server_notes: rowIn(await freshPull(lead.session), 'work_orders', order.id)
        .technician_notes,
      lead_device_notes: (await lead.find('work_orders', order.id)).technician_notes,
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
    }
  },

  /** (4) A note created offline keeps its WatermelonDB id, is not echoed as created, spreads. */
  async offline_note() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech05'])
    const { order } = await office.dispatchedOrder({ lead: ids.tech05, title: 'E2E offline note' })
    const phone = new Device(sessions.tech05, 'phone')
    const tablet = new Device(sessions.tech05, 'tablet')
    await phone.mustSync()
    await tablet.mustSync()
    const occurredAt = Date.now() - 1000
    const note = await phone.create('work_order_notes', {
      workOrderId: order.id,
      body: 'Offline: customer reports noise at floor 3',
      occurredAt,
    })
    const push = await phone.mustSync()
    const echo = await phone.mustSync()
    const phoneNotes = await localOrderChildren(phone, order.id, 'work_order_notes')
    const tabletSync = await tablet.mustSync()
    const tabletNotes = await localOrderChildren(tablet, order.id, 'work_order_notes')
    // WatermelonDB's *default* id generator (16 alphanumerics) against the server.
    const cursor = echo.pulls[0].timestamp
    const defaultId = defaultRandomId()
    const defaultIdPush = await http('POST', `/api/v1/sync?last_pulled_at=${cursor}`, {
      token: phone.token,
      headers: { 'X-Device-Id': phone.deviceId },
      body: {
        work_order_notes: {
          created: [
            {
              id: defaultId,
              _status: 'created',
              _changed: '',
              work_order_id: order.id,
              body: 'default id',
              occurred_at: occurredAt,
            },
          ],
          updated: [],
          deleted: [],
        },
      },
    })
    return {
      order_id: order.id,
      note_id: note.id,
      pushed: push.pushes.map((p) => ({
        created_ids: p.changes.work_order_notes.created.map((r) => r.id),
        response: p.response,
      })),
      echo_buckets: bucketsOf([...push.pulls.slice(1), ...echo.pulls], 'work_order_notes', note.id),
      phone_notes: phoneNotes.map((n) => pick(n, ['id', 'body', '_status', 'device_id', 'recorded_at'])),
      tablet_buckets: bucketsOf(tabletSync.pulls, 'work_order_notes', note.id),
      tablet_notes: tabletNotes.map((n) =>
        pick(n, ['id', 'body', 'occurred_at', 'device_id', 'created_by_id', '_status']),
      ),
      phone_device_id: phone.deviceId,
      phone_user_id: phone.session.user.id,
      occurred_at: occurredAt,
      default_id: defaultId,
      default_id_push: { status: defaultIdPush.status, body: defaultIdPush.body },
      default_id_on_server: rowIn(await freshPull(phone.session), 'work_order_notes', defaultId),
      sync_errors: syncErrors(),
    }
  },

  /** (5) Offline status changes as status_events go through the server's lifecycle. */
  async status_events() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech07'])
    const { order, site } = await office.dispatchedOrder({
      lead: ids.tech07,
      title: 'E2E status events',
    })
    const device = new Device(sessions.tech07)
    await device.mustSync()
    const localSite = await device.find('sites', site.id)
    // Device clock, after the dispatch: accepted, then en route, then on site.
    const times = {}
    for (const to of ['accepted', 'en_route', 'on_site']) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      times[to] = Date.now()
      await device.create('status_events', {
        workOrderId: order.id,
        toStatus: to,
        occurredAt: times[to],
        ...(to === 'on_site' ? { lat: localSite.lat, lon: localSite.lon, accuracyM: 6 } : {}),
      })
      // The app also shows the new status right away (optimistic local value).
      await device.update('work_orders', order.id, { status: to })
    }
    const checkIn = await device.create('check_ins', {
      workOrderId: order.id,
      kind: 'in',
      occurredAt: times.on_site + 5,
      lat: localSite.lat + 0.0001,
      lon: localSite.lon,
      accuracyM: 8,
    })
    const sync = await device.mustSync()
    await device.mustSync()
    const local = await device.find('work_orders', order.id)
    const events = await localOrderChildren(device, order.id, 'status_events')
    const rest = await office.order(order.id)
    const history = await office.get(`/api/v1/work-orders/${order.id}/events`)
    return {
      order_id: order.id,
      times,
      pushed_events: sync.pushes[0]?.changes.status_events.created.length,
      push_response: sync.pushes[0]?.response,
      device_order: pick(local, ['status', 'actual_start', '_status']),
      device_events: events
        .map((e) => pick(e, ['to_status', 'occurred_at', 'outcome', 'outcome_code', '_status']))
        .sort((a, b) => a.occurred_at - b.occurred_at),
      device_check_in: pick(await device.find('check_ins', checkIn.id), [
        'within_geofence',
        'distance_m',
        '_status',
      ]),
      rest: { status: rest.status, actual_start: ms(rest.actual_start) },
      history: history
        .filter((e) => e.event_type === 'status_changed')
        .map((e) => ({
          to: e.to_status,
          occurred_at: ms(e.occurred_at),
          actor_role: e.actor_role,
          location: e.location,
        })),
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
      sync_errors: syncErrors(),
    }
  },

  /** (6) Reassignment moves the order (and its children) from device A to device B. */
  async reassignment() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech08', 'tech09'])
    const site = await office.freeSite([ids.tech08, ids.tech09], 3)
    const { order } = await office.dispatchedOrder({
      lead: ids.tech08,
      title: 'E2E reassignment',
      siteOffset: 3,
    })
    const a = new Device(sessions.tech08, 'old-lead')
    const b = new Device(sessions.tech09, 'new-lead')
    await a.mustSync()
    await b.mustSync()
    const note = await a.create('work_order_notes', {
      workOrderId: order.id,
      body: 'Parts ordered, back tomorrow',
      occurredAt: Date.now() - 500,
    })
    await a.mustSync()
    const onA = {
      order: !!(await a.find('work_orders', order.id)),
      note: !!(await a.find('work_order_notes', note.id)),
      site: !!(await a.find('sites', order.site_id)),
    }
    const patched = await office.patchOrder(order.id, { lead_technician_id: ids.tech09 })
    // Offline on A, before it hears of the reassignment: this edit must not be lost.
    await a.update('work_orders', order.id, { technicianNotes: 'A: relay replaced offline' })
    const aSync = await a.mustSync() // learns of it (order kept), pushes the edit
    const aKept = await a.find('work_orders', order.id)
    const aDrop = await a.mustSync() // settled by that push: now the order leaves
    const bSync = await b.mustSync()
    const bOrder = await b.find('work_orders', order.id)
    return {
      order_id: order.id,
      note_id: note.id,
      site_free: site.id === order.site_id,
      before: onA,
      status_after_reassign: patched.status,
      a_first: {
        order: bucketsOf(aSync.pulls, 'work_orders', order.id),
        note: bucketsOf(aSync.pulls, 'work_order_notes', note.id),
        kept: aKept && pick(aKept, ['lead_technician_id', 'technician_notes', '_status']),
        pushed: aSync.pushes[0]?.response?.updated,
      },
      a_buckets: {
        order: bucketsOf(aDrop.pulls, 'work_orders', order.id),
        note: bucketsOf(aDrop.pulls, 'work_order_notes', note.id),
        site: bucketsOf(aDrop.pulls, 'sites', order.site_id),
      },
      a_after: {
        order: await a.find('work_orders', order.id),
        note: await a.find('work_order_notes', note.id),
        site: await a.find('sites', order.site_id),
      },
      b_notes: bOrder && bOrder.technician_notes,
      b_buckets: {
        order: bucketsOf(bSync.pulls, 'work_orders', order.id),
        note: bucketsOf(bSync.pulls, 'work_order_notes', note.id),
        site: bucketsOf(bSync.pulls, 'sites', order.site_id),
      },
      b_after: {
        order: bOrder && pick(bOrder, ['lead_technician_id', 'status', '_status']),
        note: pick(await b.find('work_order_notes', note.id), ['body', '_status']),
        site: !!(await b.find('sites', order.site_id)),
      },
      new_lead: ids.tech09,
      sync_errors: syncErrors(),
    }
  },

  /** (7) Replayed pushes (same Idempotency-Key) have one effect. */
  async idempotency() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech10'])
    const { order } = await office.dispatchedOrder({ lead: ids.tech10, title: 'E2E idempotency' })
    const device = new Device(sessions.tech10)
    const first = await device.mustSync()
    const cursor = first.pulls[0].timestamp

    // (a) A push replayed by hand with fetch, outside synchronize().
    const key = randomUUID()
    const noteId = randomUUID()
    const body = {
      work_order_notes: {
        created: [
          {
            id: noteId,
            _status: 'created',
            _changed: '',
            work_order_id: order.id,
            body: 'replayed note',
            occurred_at: Date.now() - 2000,
          },
        ],
        updated: [],
        deleted: [],
      },
      status_events: {
        created: [
          {
            id: randomUUID(),
            _status: 'created',
            _changed: '',
            work_order_id: order.id,
            to_status: 'accepted',
            occurred_at: Date.now() - 1000,
          },
        ],
        updated: [],
        deleted: [],
      },
    }
    // Another install of the same technician (the rows are not in `device`'s database).
    const rawDeviceId = `e2e-raw-client-${randomUUID()}`
    const send = (payload, k = key) =>
      http('POST', `/api/v1/sync?last_pulled_at=${cursor}`, {
        token: device.token,
        headers: { 'X-Device-Id': rawDeviceId, 'Idempotency-Key': k },
        body: payload,
      })
    const once = await send(body)
    const twice = await send(body)
    const reused = await send({ ...body, status_events: { created: [], updated: [], deleted: [] } })
    const freshKey = await send(body, randomUUID()) // same rows, new key: insert-if-absent

    // (b) Through synchronize(): the first answer is lost, the retry reuses the key.
    await device.mustSync()
    const lostNote = await device.create('work_order_notes', {
      workOrderId: order.id,
      body: 'note whose push answer was lost',
      occurredAt: Date.now() - 500,
    })
    device.faults.losePushResponses = 1
    const lost = await device.sync()

    // (c) The app gives up after the server applied the push; the next sync re-pushes.
    const abandonedNote = await device.create('work_order_notes', {
      workOrderId: order.id,
      body: 'note pushed twice by two synchronize() calls',
      occurredAt: Date.now() - 300,
    })
    device.faults.failPushAfterServer = 1
    const failed = await device.sync()
    const statusAfterFail = (await device.find('work_order_notes', abandonedNote.id))._status
    const retried = await device.mustSync()
    await device.mustSync()

    const server = await freshPull(device.session)
    const serverNotes = server.changes.work_order_notes.created.filter(
      (n) => n.work_order_id === order.id,
    )
    const history = await office.get(`/api/v1/work-orders/${order.id}/events`)
    return {
      order_id: order.id,
      manual: {
        first: { status: once.status, body: once.body },
        replay: { status: twice.status, body: twice.body },
        reused_key_other_body: { status: reused.status, body: reused.body },
        same_rows_new_key: { status: freshKey.status, body: freshKey.body },
      },
      lost_response: {
        error: lost.error,
        push: pushSummary(lost.pushes[0]),
        note_status: (await device.find('work_order_notes', lostNote.id))._status,
      },
      abandoned: {
        error: failed.error,
        first_push: pushSummary(failed.pushes[0]),
        status_after_failure: statusAfterFail,
        retry_push: pushSummary(retried.pushes[0]),
        note_status: (await device.find('work_order_notes', abandonedNote.id))._status,
      },
      note_ids: { manual: noteId, lost: lostNote.id, abandoned: abandonedNote.id },
      server_note_ids: serverNotes.map((n) => n.id),
      server_status: (await office.order(order.id)).status,
      accepted_events: history.filter(
        (e) => e.event_type === 'status_changed' && e.to_status === 'accepted',
      ).length,
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
      local_notes: (await localOrderChildren(device, order.id, 'work_order_notes')).length,
      sync_errors: syncErrors(),
    }
  },

  /** (2b) An app whose models declare updatedAt (WatermelonDB then stamps updated_at). */
  async app_timestamps() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech14'])
    const { order } = await office.dispatchedOrder({
      lead: ids.tech14,
      title: 'E2E app timestamps',
    })
    const device = new Device(sessions.tech14, 'timestamps-app', { timestamps: true })
    await device.mustSync()
    const edited = await device.update('work_orders', order.id, {
      technicianNotes: 'edited in an app that declares updatedAt',
    })
    const sync = await device.mustSync()
    await device.mustSync()
    const server = rowIn(await freshPull(device.session), 'work_orders', order.id)
    return {
      order_id: order.id,
      local_changed: edited._changed,
      push_response: sync.pushes[0]?.response,
      server_notes: server.technician_notes,
      device: pick(await device.find('work_orders', order.id), ['technician_notes', '_status']),
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
    }
  },

  /** (8) A local delete is refused by the server and restored on the next pull. */
  async deletes() {
    const office = await Office.open()
    const { ids, sessions } = await setup(office, ['tech11'])
    const { order } = await office.dispatchedOrder({ lead: ids.tech11, title: 'E2E deletes' })
    const device = new Device(sessions.tech11)
    await device.mustSync()
    const note = await device.create('work_order_notes', {
      workOrderId: order.id,
      body: 'a note that will be deleted locally',
      occurredAt: Date.now() - 500,
    })
    await device.mustSync()
    const original = await device.find('work_orders', order.id)
    await device.markAsDeleted('work_orders', order.id)
    await device.markAsDeleted('work_order_notes', note.id)
    const locallyDeleted = await device.db.adapter.getDeletedRecords('work_orders')
    const pushSync = await device.mustSync()
    const afterPush = {
      order: await device.find('work_orders', order.id),
      note: await device.find('work_order_notes', note.id),
    }
    const restoreSync = await device.mustSync()
    const restored = await device.find('work_orders', order.id)
    const restoredNote = await device.find('work_order_notes', note.id)
    const restoreErrors = syncErrors(device)
    await device.mustSync()
    const rest = await office.order(order.id)
    return {
      order_id: order.id,
      note_id: note.id,
      locally_deleted: locallyDeleted,
      pushed_deleted: {
        work_orders: pushSync.pushes[0]?.changes.work_orders.deleted,
        work_order_notes: pushSync.pushes[0]?.changes.work_order_notes.deleted,
      },
      push_response: pushSync.pushes[0]?.response,
      after_push: { order: afterPush.order, note: afterPush.note },
      restore_buckets: {
        order: bucketsOf(restoreSync.pulls, 'work_orders', order.id),
        note: bucketsOf(restoreSync.pulls, 'work_order_notes', note.id),
      },
      restored: restored && pick(restored, ['title', 'status', 'priority', '_status']),
      original: pick(original, ['title', 'status', 'priority']),
      restored_note: restoredNote && pick(restoredNote, ['body', '_status']),
      rest: { status: rest.status, title: rest.title },
      conflicts: (await office.conflicts(`row_id=${order.id}`)).map(conflictView),
      note_conflicts: (await office.conflicts(`row_id=${note.id}`)).map(conflictView),
      restore_warnings: restoreErrors.map((e) => e.text.slice(0, 200)),
      sync_errors_after_restore: syncErrors(device).length - restoreErrors.length,
    }
  },
}

function pick(obj, keys) {
  if (!obj) return null
  return Object.fromEntries(keys.map((k) => [k, obj[k] === undefined ? null : obj[k]]))
}

function conflictView(c) {
  return {
    table: c.table_name,
    row_id: c.row_id,
    column: c.column,
    kind: c.kind,
    kept: c.kept,
    server_value: c.server_value,
    device_value: c.device_value,
    device_id: c.device_id,
  }
}

async function main() {
  const names = process.argv.slice(2)
  if (!names.length || names.some((n) => !(n in SCENARIOS))) {
    process.stderr.write(`usage: node scenarios.mjs <${Object.keys(SCENARIOS).join('|')}>...\n`)
    process.exit(2)
  }
  const results = {}
  for (const name of names) {
    // Scenarios are independent (own technicians, own orders): one crashing is reported
    // and the next one still runs.
    const started = Date.now()
    logStart = watermelonLog.length
    try {
      results[name] = await SCENARIOS[name]()
    } catch (error) {
      results[name] = { crashed: String(error && error.stack ? error.stack : error) }
      process.stderr.write(`scenario ${name} crashed: ${results[name].crashed}\n`)
    }
    results[name].elapsed_ms = Date.now() - started
  }
  process.stdout.write(`${JSON.stringify(results)}\n`)
  // Nothing should keep Node alive, but never hang the test run on a stray handle.
  process.exit(0)
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`)
  process.exit(1)
})
