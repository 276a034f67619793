import type { ClientBase } from 'pg';

/** One builder call recorded in `racefree.registry`, as `racefree migrate status` shows it. */
export interface RegisteredObject {
  /** `addNumbering`, `addUniqueKey` or `addUpsert`. */
  readonly builder: string;
  /** The table, quoted and schema-qualified. */
  readonly table: string;
  /** The numbering's, key's or upsert's name. */
  readonly name: string;
  /** The generator version its code was made by. */
  readonly generatorVersion: number;
  /** Every object it created: `function schema.name(args)`, `trigger name`, ... */
  readonly objects: readonly string[];
}

/** Registered builder objects of the connected database; none before kit migration 0005. @internal */
export async function registeredObjects(client: ClientBase): Promise<RegisteredObject[]> {
  const { rows } = await client.query<{ found: boolean }>(`SELECT pg_catalog.to_regclass('racefree.registry') IS NOT NULL AS found`);
  if (!rows[0]?.found) return [];
  const registry = await client.query<RegisteredObject>(`
    SELECT r.builder, format('%I.%I', r.table_schema, r.table_name) AS "table", r.name, r.generator_version AS "generatorVersion",
           coalesce((SELECT array_agg(CASE o.object_type
                                        WHEN 'function' THEN format('function %I.%I(%s)', o.object_schema, o.object_name, o.arguments)
                                        WHEN 'trigger' THEN format('trigger %I', o.object_name)
                                        WHEN 'constraint' THEN format('constraint %I', o.object_name)
                                        ELSE format('%s %I.%I', o.object_type, o.object_schema, o.object_name) END
                                      ORDER BY o.object_type, o.object_name)
                       FROM racefree.registry_objects AS o WHERE o.registry_id = r.id), '{}') AS objects
      FROM racefree.registry AS r
     ORDER BY r.table_schema, r.table_name, r.builder, r.name`);
  return registry.rows;
}
