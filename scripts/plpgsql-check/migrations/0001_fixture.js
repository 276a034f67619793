// The user migration whose generated functions `npm run check:plpgsql` checks:
// every builder in its main shapes, on names that need quoting.
import { addNumbering, addUniqueKey, addUpsert } from 'racefree/migrate';

export const up = (pgm) => {
  pgm.sql(`
    CREATE TABLE assessments (id bigserial PRIMARY KEY, title text, assessment_number text);
    CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id int NOT NULL, issued_on date NOT NULL DEFAULT current_date, invoice_number text);
    CREATE TABLE tickets (id bigserial PRIMARY KEY, ticket_number text);
    CREATE TABLE "Odd ""Table""" (id bigserial PRIMARY KEY, "Key 1" text NOT NULL, "note;--" text DEFAULT E'a\\nb', active boolean NOT NULL DEFAULT true);
    CREATE TABLE profiles (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id int NOT NULL, tenant text NOT NULL, bio text, UNIQUE (tenant, user_id));
    CREATE TABLE orders (id bigserial PRIMARY KEY, ref text NOT NULL UNIQUE, note text, order_number text);
  `);
  addNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number', template: 'ASM-{YYYY}-{seq:3}', timeZone: 'Asia/Tokyo' });
  addNumbering(pgm, { name: 'invoice', table: 'invoices', column: 'invoice_number', template: 'INV-{tenant_id}-{YYYY}{MM}-{seq:4}', dateColumn: 'issued_on' });
  addNumbering(pgm, { name: 'ticket', table: 'tickets', column: 'ticket_number', template: 'T-{seq:6}', mode: 'fast' });
  addUniqueKey(pgm, { table: 'Odd "Table"', columns: ['Key 1'], where: 'active', name: 'odd_active_key' });
  addUpsert(pgm, { table: 'Odd "Table"', key: ['Key 1'], where: 'active', name: 'odd' });
  addUpsert(pgm, { table: 'profiles', key: ['tenant', 'user_id'] });
  // The upserts of a gapless-numbered table: row lock first, inserts in a subtransaction.
  addNumbering(pgm, { name: 'order', table: 'orders', column: 'order_number', template: 'ORD-{seq}' });
  addUpsert(pgm, { table: 'orders', key: ['ref'] });
};
