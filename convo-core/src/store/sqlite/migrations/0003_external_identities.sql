-- Version 3: users created for an external identity (an OpenID Connect
-- issuer and subject, or an embedding program's own user id). The pair is
-- unique; users without one keep NULLs, which a UNIQUE index never
-- compares equal, so password users are unaffected.
--
-- Such users have no password. `password_hash` stays NOT NULL (relaxing it
-- would mean rebuilding `users`, whose rows every project points at) and
-- holds '' for them: never a PHC string, so it can never verify.

ALTER TABLE users ADD COLUMN external_issuer TEXT;
ALTER TABLE users ADD COLUMN external_subject TEXT;

CREATE UNIQUE INDEX users_external_identity ON users (external_issuer, external_subject);
