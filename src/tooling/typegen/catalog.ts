/**
 * What `racefree types` reads from the catalog: the functions of the given
 * schemas that `call` can reach, and every type their arguments and rows use.
 * @internal
 */

import type pg from 'pg';

/** A function as pg_proc describes it, arguments in declaration order. */
export interface CatalogFunction {
  readonly schema: string;
  readonly name: string;
  readonly comment: string | null;
  readonly returnsSet: boolean;
  readonly returnType: number;
  /** Every argument, OUT and TABLE ones included; `name` is '' when unnamed. */
  readonly args: ReadonlyArray<{ readonly name: string; readonly type: number; readonly mode: string }>;
  /** How many of the trailing input arguments have a DEFAULT. */
  readonly defaults: number;
}

/** What the registry says of a function `addUpsert` generated. */
export interface GeneratedUpsert {
  readonly kind: 'upsert' | 'get_or_create' | 'many';
  /** The conflict key's columns: required arguments of `upsert` and `get_or_create`. */
  readonly key: readonly string[];
}

/** A type as pg_type describes it, resolved enough to map it to TypeScript. */
export interface CatalogType {
  readonly oid: number;
  readonly name: string;
  /** pg_type.typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  readonly kind: string;
  /** The element type of an array type (typcategory 'A'), else null. */
  readonly element: number | null;
  /** The base type of a domain, else null. */
  readonly base: number | null;
  readonly labels: readonly string[] | null;
  /** The attributes of a composite type, in order. */
  readonly attributes: ReadonlyArray<{ readonly name: string; readonly type: number }> | null;
}

// Plain functions only (no aggregates, procedures or trigger functions), no
// extension members, and none of the kit's internals (`racefree_internal._*`, and `racefree._idempotency_claim`, the client's own).
const FUNCTIONS_SQL = `
SELECT n.nspname AS schema, p.proname AS name, obj_description(p.oid, 'pg_proc') AS comment,
       p.proretset AS "returnsSet", p.prorettype::int AS "returnType", p.pronargdefaults AS defaults,
       coalesce(
         (SELECT json_agg(json_build_object(
                   'name', coalesce(p.proargnames[i], ''),
                   'type', coalesce(p.proallargtypes[i], p.proargtypes[i - 1])::int,
                   'mode', coalesce(p.proargmodes[i], 'i')) ORDER BY i)
            FROM generate_series(1, coalesce(array_length(p.proallargtypes, 1), p.pronargs)) AS i),
         '[]') AS args
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY ($1::text[])
   AND p.prokind = 'f'
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND NOT (n.nspname = 'racefree' AND starts_with(p.proname, '_'))
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY n.nspname, p.proname, p.oid`;

const TYPES_SQL = `
SELECT t.oid::int AS oid, format_type(t.oid, NULL) AS name, t.typtype AS kind,
       CASE WHEN t.typcategory = 'A' THEN nullif(t.typelem, 0)::int END AS element,
       nullif(t.typbasetype, 0)::int AS base,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels,
       (SELECT json_agg(json_build_object('name', a.attname, 'type', a.atttypid::int) ORDER BY a.attnum)
          FROM pg_attribute a
         WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS attributes
  FROM pg_type t
 WHERE t.oid = ANY ($1::oid[])`;

// The registry lists an upsert's functions in this order: upsert_, get_or_create_, _many.
const UPSERTS_SQL = `
SELECT r.description->>'schema' AS schema, f.name, f.ord::int AS ord, r.config->'key' AS key
  FROM racefree.registry AS r,
       jsonb_array_elements_text(r.description->'functions') WITH ORDINALITY AS f(name, ord)
 WHERE r.builder = 'addUpsert'`;
const KINDS = ['upsert', 'get_or_create', 'many'] as const;

/** The generated upserts, by `schema.name`; none before the registry exists (kits before 0005). */
async function readUpserts(client: pg.ClientBase): Promise<Map<string, GeneratedUpsert>> {
  const upserts = new Map<string, GeneratedUpsert>();
  const { rows: exists } = await client.query<{ ok: boolean }>(`SELECT to_regclass('racefree.registry') IS NOT NULL AS ok`);
  if (!exists[0]?.ok) return upserts;
  const { rows } = await client.query<{ schema: string; name: string; ord: number; key: unknown }>(UPSERTS_SQL);
  for (const r of rows) {
    const kind = KINDS[r.ord - 1];
    const key = typeof r.key === 'string' ? [r.key] : Array.isArray(r.key) ? r.key.filter((k): k is string => typeof k === 'string') : [];
    if (kind !== undefined) upserts.set(`${r.schema}.${r.name}`, { kind, key });
  }
  return upserts;
}

/** The functions of `schemas`, the closure of the types they use, and what the registry knows of them. */
export async function readCatalog(
  client: pg.ClientBase,
  schemas: readonly string[],
): Promise<{ functions: CatalogFunction[]; types: Map<number, CatalogType>; upserts: Map<string, GeneratedUpsert> }> {
  const { rows: functions } = await client.query<CatalogFunction>(FUNCTIONS_SQL, [schemas]);
  const upserts = await readUpserts(client);
  const types = new Map<number, CatalogType>();
  let wanted = new Set(functions.flatMap((f) => [f.returnType, ...f.args.map((a) => a.type)]));
  // A few round trips: each finds the element, base and attribute types of the last.
  while (wanted.size > 0) {
    const { rows } = await client.query<CatalogType>(TYPES_SQL, [[...wanted]]);
    wanted = new Set();
    for (const t of rows) types.set(t.oid, t);
    for (const t of rows) {
      for (const next of [t.element, t.base, ...(t.attributes ?? []).map((a) => a.type)]) {
        if (next !== null && !types.has(next)) wanted.add(next);
      }
    }
  }
  return { functions, types, upserts };
}
