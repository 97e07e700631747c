DROP TRIGGER sessions_log_revocation ON sessions;
DROP FUNCTION latchkey_log_revocation();
DROP TABLE revocations;
DROP TABLE sign_ups;
