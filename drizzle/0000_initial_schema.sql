CREATE SCHEMA IF NOT EXISTS "vottery";
--> statement-breakpoint
CREATE TABLE "vottery"."user_profiles" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"bio" text,
	"avatar_url" text,
	"preferences" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"language" text,
	"demographics_enc" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vottery"."user_roles" (
	"user_id" uuid NOT NULL,
	"role" text NOT NULL,
	"granted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"granted_by" text,
	CONSTRAINT "user_roles_user_id_role_pk" PRIMARY KEY("user_id","role")
);
--> statement-breakpoint
CREATE TABLE "vottery"."users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"sngine_user_id" bigint NOT NULL,
	"display_name" text,
	"email_hmac" text NOT NULL,
	"email_enc" text NOT NULL,
	"phone_hmac" text,
	"phone_enc" text,
	"status" text DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_login_at" timestamp with time zone,
	CONSTRAINT "users_sngine_user_id_unique" UNIQUE("sngine_user_id")
);
--> statement-breakpoint
CREATE TABLE "vottery"."devices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"cookie_hash" text NOT NULL,
	"fingerprint_hash" text,
	"name" text,
	"type" text DEFAULT 'unknown' NOT NULL,
	"os" text,
	"os_version" text,
	"browser" text,
	"browser_version" text,
	"user_agent" text,
	"declared" jsonb,
	"last_ip" text,
	"country" text,
	"region" text,
	"city" text,
	"trusted" boolean DEFAULT false NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "vottery"."otp_codes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"flow_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"code_hmac" text,
	"destination_hmac" text NOT NULL,
	"ip" text,
	"failed_attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"invalidated_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "vottery"."refresh_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"session_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rotated_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "vottery"."sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"device_id" uuid,
	"ip" text,
	"user_agent" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone DEFAULT now() NOT NULL,
	"idle_expires_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_reason" text
);
--> statement-breakpoint
CREATE TABLE "vottery"."verification_flows" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"flow_hash" text NOT NULL,
	"device_hash" text NOT NULL,
	"sngine_user_id" bigint,
	"decoy" boolean DEFAULT false NOT NULL,
	"email_hmac" text NOT NULL,
	"email_verified_at" timestamp with time zone,
	"phone_hmac" text,
	"phone_verified_at" timestamp with time zone,
	"failed_attempts" integer DEFAULT 0 NOT NULL,
	"ip" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "verification_flows_flow_hash_unique" UNIQUE("flow_hash")
);
--> statement-breakpoint
CREATE TABLE "vottery"."webauthn_challenges" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"challenge" text NOT NULL,
	"purpose" text NOT NULL,
	"flow_id" uuid,
	"device_hash" text,
	"user_handle" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	CONSTRAINT "webauthn_challenges_challenge_unique" UNIQUE("challenge")
);
--> statement-breakpoint
CREATE TABLE "vottery"."webauthn_credentials" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"device_id" uuid,
	"credential_id" text NOT NULL,
	"user_handle" text NOT NULL,
	"public_key" "bytea" NOT NULL,
	"counter" bigint DEFAULT 0 NOT NULL,
	"transports" jsonb,
	"aaguid" text,
	"backup_eligible" boolean DEFAULT false NOT NULL,
	"backup_state" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"disabled_at" timestamp with time zone,
	"disabled_reason" text,
	CONSTRAINT "webauthn_credentials_credential_id_unique" UNIQUE("credential_id")
);
--> statement-breakpoint
CREATE TABLE "vottery"."crypto_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"alg" text NOT NULL,
	"use" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"public_key" text,
	"private_key_wrapped" text NOT NULL,
	"master_key_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rotated_at" timestamp with time zone,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "vottery"."activity_log" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"type" text NOT NULL,
	"meta" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vottery"."audit_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"type" text NOT NULL,
	"user_id" uuid,
	"actor" text,
	"ip" text,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "audit_events_id_unique" UNIQUE("id"),
	CONSTRAINT "audit_events_prev_hash_unique" UNIQUE("prev_hash")
);
--> statement-breakpoint
ALTER TABLE "vottery"."user_profiles" ADD CONSTRAINT "user_profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."user_roles" ADD CONSTRAINT "user_roles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."devices" ADD CONSTRAINT "devices_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."otp_codes" ADD CONSTRAINT "otp_codes_flow_id_verification_flows_id_fk" FOREIGN KEY ("flow_id") REFERENCES "vottery"."verification_flows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."refresh_tokens" ADD CONSTRAINT "refresh_tokens_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "vottery"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."sessions" ADD CONSTRAINT "sessions_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "vottery"."devices"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."webauthn_challenges" ADD CONSTRAINT "webauthn_challenges_flow_id_verification_flows_id_fk" FOREIGN KEY ("flow_id") REFERENCES "vottery"."verification_flows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."webauthn_credentials" ADD CONSTRAINT "webauthn_credentials_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vottery"."webauthn_credentials" ADD CONSTRAINT "webauthn_credentials_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "vottery"."devices"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "users_email_hmac_idx" ON "vottery"."users" USING btree ("email_hmac");--> statement-breakpoint
CREATE UNIQUE INDEX "devices_user_cookie_idx" ON "vottery"."devices" USING btree ("user_id","cookie_hash");--> statement-breakpoint
CREATE INDEX "devices_fingerprint_idx" ON "vottery"."devices" USING btree ("user_id","fingerprint_hash");--> statement-breakpoint
CREATE INDEX "otp_codes_flow_channel_idx" ON "vottery"."otp_codes" USING btree ("flow_id","channel");--> statement-breakpoint
CREATE INDEX "otp_codes_destination_idx" ON "vottery"."otp_codes" USING btree ("destination_hmac","created_at");--> statement-breakpoint
CREATE INDEX "otp_codes_ip_idx" ON "vottery"."otp_codes" USING btree ("ip","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "refresh_tokens_hash_idx" ON "vottery"."refresh_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "refresh_tokens_session_idx" ON "vottery"."refresh_tokens" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "vottery"."sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "sessions_device_idx" ON "vottery"."sessions" USING btree ("device_id");--> statement-breakpoint
CREATE INDEX "sessions_revoked_idx" ON "vottery"."sessions" USING btree ("revoked_at");--> statement-breakpoint
CREATE INDEX "verification_flows_expires_idx" ON "vottery"."verification_flows" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "webauthn_challenges_flow_idx" ON "vottery"."webauthn_challenges" USING btree ("flow_id");--> statement-breakpoint
CREATE INDEX "webauthn_challenges_expires_idx" ON "vottery"."webauthn_challenges" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "webauthn_credentials_user_idx" ON "vottery"."webauthn_credentials" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "webauthn_credentials_device_idx" ON "vottery"."webauthn_credentials" USING btree ("device_id");--> statement-breakpoint
CREATE INDEX "crypto_keys_alg_status_idx" ON "vottery"."crypto_keys" USING btree ("alg","use","status");--> statement-breakpoint
CREATE INDEX "activity_log_user_idx" ON "vottery"."activity_log" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "audit_events_user_idx" ON "vottery"."audit_events" USING btree ("user_id","seq");--> statement-breakpoint
CREATE INDEX "audit_events_type_idx" ON "vottery"."audit_events" USING btree ("type","seq");