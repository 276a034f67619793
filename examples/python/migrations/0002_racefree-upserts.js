// The generated upserts the Python service calls. Written with racefree's
// TypeScript builders for now; a plain-SQL form of the builders is to come.
import { addUpsert, dropUpsert } from 'racefree/migrate';

const upserts = [
  { table: { schema: 'pyseeds', name: 'tech_stack_assessments' }, key: ['technology', 'proficiency_level'] },
  { table: { schema: 'pyseeds', name: 'intent_analysis_metadata' }, key: ['task_id'] },
];

export const up = (pgm) => {
  for (const upsert of upserts) addUpsert(pgm, upsert);
};
export const down = (pgm) => {
  for (const upsert of [...upserts].reverse()) dropUpsert(pgm, upsert);
};
