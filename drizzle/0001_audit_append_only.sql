-- The audit log is append-only: the application never changes or removes an event, so the database
-- refuses it too. This stops a bug or an injected statement; it does not stop the table's owner, who can
-- disable the trigger. Against that, the hash chain makes any edit or removal detectable (verify-audit).
CREATE FUNCTION "vottery"."audit_events_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'vottery.audit_events is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege',
			HINT = 'Audit events are never updated or deleted; record a new event instead.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "vottery"."audit_events"
	FOR EACH ROW EXECUTE FUNCTION "vottery"."audit_events_append_only"();
--> statement-breakpoint
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "vottery"."audit_events"
	FOR EACH STATEMENT EXECUTE FUNCTION "vottery"."audit_events_append_only"();
