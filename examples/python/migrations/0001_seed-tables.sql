-- The tables of seeds 000, 001 and 002 as their services had them, in schema
-- pyseeds, unique keys included.

-- Up Migration
CREATE SCHEMA pyseeds;

-- Seed 000: one assessment per (technology, proficiency_level).
CREATE TABLE pyseeds.tech_stack_assessments (
  id bigserial PRIMARY KEY,
  assessment_id text NOT NULL,
  technology text NOT NULL,
  proficiency_level text NOT NULL,
  questions jsonb NOT NULL,
  total_questions int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_tech_proficiency UNIQUE (technology, proficiency_level)
);

-- Seed 001: one intent analysis per task.
CREATE TABLE pyseeds.intent_analysis_metadata (
  id bigserial PRIMARY KEY,
  task_id text NOT NULL,
  roadmap_id text,
  parsed_goal text NOT NULL,
  key_technologies jsonb NOT NULL DEFAULT '[]',
  content_format_weights jsonb,
  full_analysis_data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ix_intent_analysis_metadata_task_id UNIQUE (task_id)
);

CREATE FUNCTION pyseeds.touch() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END';
CREATE TRIGGER touch BEFORE UPDATE ON pyseeds.tech_stack_assessments FOR EACH ROW EXECUTE FUNCTION pyseeds.touch();
CREATE TRIGGER touch BEFORE UPDATE ON pyseeds.intent_analysis_metadata FOR EACH ROW EXECUTE FUNCTION pyseeds.touch();

-- Seed 002: one quiz session per client_session_uuid, and the progress its
-- ingest advances (which must never advance twice for one session).
CREATE TABLE pyseeds.quiz_sessions (
  id bigserial PRIMARY KEY,
  user_id int NOT NULL,
  topic_id int NOT NULL,
  client_session_uuid uuid NOT NULL,
  correct int NOT NULL, wrong int NOT NULL, unsure int NOT NULL,
  UNIQUE (client_session_uuid, topic_id)
);
CREATE TABLE pyseeds.progress (user_id int, topic_id int, answered int NOT NULL, PRIMARY KEY (user_id, topic_id));

-- Down Migration
DROP SCHEMA pyseeds CASCADE;
