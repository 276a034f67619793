-- The generated upserts the Python service calls, written with racefree's
-- SQL API, as an Alembic or plain-SQL migration would (op.execute(...)):
-- no Node.js needed. The same statements run under racefree migrate, psql
-- or any migration tool, in the migration's transaction.

-- Up Migration
SELECT racefree.add_upsert('pyseeds.tech_stack_assessments', key => ARRAY['technology', 'proficiency_level']);
SELECT racefree.add_upsert('pyseeds.intent_analysis_metadata', key => ARRAY['task_id']);

-- Down Migration
SELECT racefree.drop_upsert('pyseeds.intent_analysis_metadata');
SELECT racefree.drop_upsert('pyseeds.tech_stack_assessments');
