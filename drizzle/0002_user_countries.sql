CREATE TABLE "vottery"."user_countries" (
	"user_id" uuid NOT NULL,
	"country" text NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "user_countries_user_id_country_pk" PRIMARY KEY("user_id","country")
);
--> statement-breakpoint
ALTER TABLE "vottery"."user_countries" ADD CONSTRAINT "user_countries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "vottery"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- The countries devices were last seen in count as seen: an existing user's next sign-in from home is not news.
INSERT INTO "vottery"."user_countries" ("user_id", "country", "first_seen_at")
	SELECT "user_id", "country", min("first_seen_at") FROM "vottery"."devices" WHERE "country" IS NOT NULL GROUP BY "user_id", "country";
