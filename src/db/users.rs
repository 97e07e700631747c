//! Queries on `users`.

use super::schema::users;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// A stored account.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// UUID text.
    pub id: String,
    /// Lower-cased address.
    pub email: String,
    /// bcrypt hash of the pre-hashed password.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    /// A disabled account cannot sign in or refresh.
    pub disabled: bool,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: i64,
}

/// A new account.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// UUID text.
    pub id: &'a str,
    /// Lower-cased address.
    pub email: &'a str,
    /// bcrypt hash.
    pub password_hash: &'a str,
    /// `user` or `admin`.
    pub role: &'a str,
    /// Starts enabled.
    pub disabled: bool,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: i64,
}

/// Inserts an account; a taken e-mail is [`DbError::Conflict`].
pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

/// Finds an account by its normalised e-mail.
pub fn find_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Finds an account by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether any admin exists (the first account registered becomes one while none does).
pub fn any_admin(conn: &mut DbConnection) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        users::table.filter(users::role.eq("admin")),
    ))
    .get_result(conn)?)
}

/// Makes `id` the admin when no admin exists yet; returns whether it did. Run inside the
/// transaction that inserted `id`. On PostgreSQL two such transactions could each see "no
/// admin yet" before either commits, so the second check runs under an advisory lock held to
/// the end of the transaction: whoever comes second sees the first one's admin. On SQLite the
/// transaction already holds the one write lock, having written first.
pub fn promote_if_no_admin(conn: &mut DbConnection, id: &str, now: i64) -> Result<bool, DbError> {
    if any_admin(conn)? {
        return Ok(false);
    }
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(7351207)").execute(pg)?;
    }
    if any_admin(conn)? {
        return Ok(false);
    }
    set_role(conn, id, "admin", now)?;
    Ok(true)
}

/// Replaces the password hash.
pub fn set_password(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Sets the role.
pub fn set_role(conn: &mut DbConnection, id: &str, role: &str, now: i64) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((users::role.eq(role), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Disables or enables; returns whether the flag changed.
pub fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id).filter(users::disabled.ne(disabled)))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Number of accounts.
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}
