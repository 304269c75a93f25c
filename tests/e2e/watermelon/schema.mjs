// The technician app's local database, as a WatermelonDB app would declare it.
//
// appSchema version 1 mirrors sync/policy.py (tables and columns the server syncs):
// timestamps are epoch milliseconds (number), JSON documents travel as strings.
// Model classes are plain JavaScript: no decorators (and so no Babel). Fields are defined
// with Object.defineProperty exactly as WatermelonDB's own @field decorator does.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { appSchema, tableSchema, Model } = require('@nozbe/watermelondb')
const {
  schemaMigrations,
  createTable,
  addColumns,
} = require('@nozbe/watermelondb/Schema/migrations')

const s = (name) => ({ name, type: 'string', isOptional: true })
const n = (name) => ({ name, type: 'number', isOptional: true })
const b = (name) => ({ name, type: 'boolean', isOptional: true })
// WatermelonDB insists created_at/updated_at are non-optional numbers.
const ts = (name) => ({ name, type: 'number' })

const appendOnlyBase = [
  s('work_order_id'),
  n('occurred_at'),
  s('created_by_id'),
  s('device_id'),
  n('recorded_at'),
]

export const TABLES = {
  work_orders: [
    s('number'), s('title'), s('description'), s('order_type'), s('category'),
    s('support_tier'), s('status'), s('channel'), s('required_skills'),
    n('estimated_duration_minutes'), n('requested_start'), n('requested_end'),
    s('customer_id'), s('site_id'), s('equipment_id'), s('helper_ids'), n('lat'), n('lon'),
    s('resolution_summary'), s('hold_reason'), s('cancel_reason'), s('custom_fields'),
    ts('created_at'), ts('updated_at'),
    s('priority'), s('lead_technician_id'), n('scheduled_start'), n('scheduled_end'),
    s('technician_notes'), s('checklist_answers'), n('actual_start'), n('actual_end'),
  ],
  work_order_notes: [...appendOnlyBase, s('body'), s('corrects_id')],
  status_events: [
    ...appendOnlyBase, s('to_status'), n('lat'), n('lon'), n('accuracy_m'),
    s('resolution_summary'), s('hold_reason'), s('reason'), s('outcome'), s('outcome_code'),
  ],
  check_ins: [
    ...appendOnlyBase, s('kind'), n('lat'), n('lon'), n('accuracy_m'), n('distance_m'),
    b('within_geofence'),
  ],
  work_order_photos: [
    ...appendOnlyBase, s('blob_sha256'), s('caption'), n('lat'), n('lon'),
  ],
  part_usages: [
    s('work_order_id'), s('part_id'), s('equipment_id'), s('technician_id'), n('quantity'),
    s('serial_numbers'), n('used_at'), n('recorded_at'),
  ],
  customers: [
    s('code'), s('name'), s('tier'), s('contacts'), s('notes'), ts('updated_at'),
  ],
  sites: [
    s('customer_id'), s('name'), s('address'), n('lat'), n('lon'), s('access_notes'),
    s('timezone'), ts('updated_at'),
  ],
  equipment: [
    s('site_id'), s('customer_id'), s('parent_id'), s('name'), s('category'),
    s('manufacturer'), s('model'), s('serial_number'), s('install_date'), s('warranty_end'),
    s('status'), s('configuration'), ts('updated_at'),
  ],
  parts: [
    s('sku'), s('name'), s('unit'), b('serialized'), s('unit_price'), s('compatible_models'),
    b('active'), ts('updated_at'),
  ],
}

export const schema = appSchema({
  version: 1,
  tables: Object.entries(TABLES).map(([name, columns]) => tableSchema({ name, columns })),
})

// Version 2 of the app (sync schema version 2): SOP checklists and the knowledge base, and
// two new work-order columns. Reached from version 1 through WatermelonDB migrations.
const ADDED_V2 = {
  tables: {
    checklist_templates: [
      s('name'), s('description'), s('order_types'), s('equipment_categories'), s('items'),
      n('version'), b('active'), ts('updated_at'),
    ],
    kb_articles: [
      s('title'), s('body'), s('skill_codes'), s('equipment_models'), s('tags'),
      ts('updated_at'),
    ],
    van_stock: [s('part_id'), n('on_hand'), n('reserved'), ts('updated_at')],
  },
  columns: {
    work_orders: [s('checklist_template_id'), n('due_at')],
    part_usages: [s('removed_serial_numbers'), n('removed_quantity')],
  },
}

export const TABLES_V2 = {
  ...Object.fromEntries(
    Object.entries(TABLES).map(([name, columns]) => [
      name,
      [...columns, ...(ADDED_V2.columns[name] || [])],
    ]),
  ),
  ...ADDED_V2.tables,
}

export const schemaV2 = appSchema({
  version: 2,
  tables: Object.entries(TABLES_V2).map(([name, columns]) => tableSchema({ name, columns })),
})

// Version 1 shipped with an empty migrations list, as WatermelonDB recommends from day one.
export const migrationsV1 = schemaMigrations({ migrations: [] })

export const migrations = schemaMigrations({
  migrations: [
    {
      toVersion: 2,
      steps: [
        ...Object.entries(ADDED_V2.tables).map(([name, columns]) =>
          createTable({ name, columns }),
        ),
        ...Object.entries(ADDED_V2.columns).map(([table, columns]) =>
          addColumns({ table, columns }),
        ),
      ],
    },
  ],
})

const camel = (column) => column.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

// What `@field('column') camelName` expands to.
function defineFields(ModelClass, columns, { timestamps }) {
  for (const { name } of columns) {
    const key = camel(name)
    if (key === 'createdAt' || key === 'updatedAt') {
      // WatermelonDB stamps created_at/updated_at itself (and marks updated_at changed on
      // every edit) whenever a model *has* such properties (`'updatedAt' in this`). A typical
      // app declares them with @readonly @date; by default these models do not.
      if (timestamps) {
        Object.defineProperty(ModelClass.prototype, key, {
          configurable: true,
          enumerable: true,
          get() {
            const value = this.asModel._getRaw(name)
            return value ? new Date(value) : null
          },
        })
      }
      continue
    }
    Object.defineProperty(ModelClass.prototype, key, {
      configurable: true,
      enumerable: true,
      get() {
        return this.asModel._getRaw(name)
      },
      set(value) {
        this.asModel._setRaw(name, value)
      },
    })
  }
}

const CHILDREN = [
  'work_order_notes', 'status_events', 'check_ins', 'work_order_photos', 'part_usages',
]

function modelFor(table, options, tables = TABLES) {
  const ModelClass = class extends Model {}
  ModelClass.table = table
  if (table === 'work_orders') {
    ModelClass.associations = Object.fromEntries(
      CHILDREN.map((child) => [child, { type: 'has_many', foreignKey: 'work_order_id' }]),
    )
  } else if (CHILDREN.includes(table)) {
    ModelClass.associations = { work_orders: { type: 'belongs_to', key: 'work_order_id' } }
  }
  Object.defineProperty(ModelClass, 'name', { value: `${camel(`_${table}`)}Model` })
  defineFields(ModelClass, tables[table], options)
  return ModelClass
}

/** Model classes for every table; `timestamps: true` declares createdAt/updatedAt. */
export function makeModelClasses({ timestamps = false, version = 1 } = {}) {
  const tables = version === 2 ? TABLES_V2 : TABLES
  return Object.keys(tables).map((table) => modelFor(table, { timestamps }, tables))
}

export const modelClasses = makeModelClasses()

// `node schema.mjs` prints the schema (pytest checks it against sync/policy.py).
if (import.meta.url === `file://${process.argv[1]}`) {
  const out = Object.fromEntries(
    Object.entries(schema.tables).map(([name, t]) => [
      name,
      Object.fromEntries(t.columnArray.map((c) => [c.name, c.type])),
    ]),
  )
  process.stdout.write(`${JSON.stringify({ version: schema.version, tables: out })}\n`)
}
