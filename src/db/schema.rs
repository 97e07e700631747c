//! The portable schema: text ids, BIGINT epoch seconds, one definition for both backends.
#![allow(missing_docs)]

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        created_ip -> Text,
        created_user_agent -> Text,
        last_ip -> Text,
        last_user_agent -> Text,
        confirmed_at -> Nullable<BigInt>,
        dbsc_key -> Nullable<Text>,
        dbsc_bound_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
        successor_hash -> Nullable<Text>,
        used_ip -> Nullable<Text>,
        used_user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        ip -> Text,
        user_agent -> Text,
        detail -> Text,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        at -> BigInt,
        email -> Text,
        ip -> Text,
    }
}

diesel::table! {
    sign_ups (id) {
        id -> BigInt,
        at -> BigInt,
        ip -> Text,
    }
}

diesel::table! {
    revocations (id) {
        id -> BigInt,
        session_id -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    activity (kind, bucket) {
        kind -> Text,
        bucket -> BigInt,
        n -> BigInt,
    }
}

diesel::table! {
    dbsc_challenges (challenge_hash) {
        challenge_hash -> Text,
        session_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(dbsc_challenges -> sessions (session_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    audit_events,
    login_failures,
    sign_ups,
    revocations,
    activity,
    dbsc_challenges
);
