#!/usr/bin/env bash
# Signs in as the seeded admin and times the admin pages, the devices page and the security
# history with curl; then signs in as one seeded user (USER_EMAIL, same password) and times
# that user's security history, first and second page.
# Run against a release build started with LATCHKEY_COOKIE_SECURE=false (plain HTTP); see
# docs/SCALE.md. Prints, per page, the median and the slowest of RUNS requests in ms.
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8080}
EMAIL=${EMAIL:-admin@example.com}
PASSWORD=${PASSWORD:-correct horse battery staple}
RUNS=${RUNS:-20}
USER_EMAIL=${USER_EMAIL:-user0000042@example.com}
jar=$(mktemp)
user_jar=$(mktemp)
trap 'rm -f "$jar" "$user_jar"' EXIT

token_of() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
sign_in() { # jar email
  local token
  token=$(curl -sf -c "$1" -b "$1" "$BASE/login" | token_of)
  curl -sf -o /dev/null -c "$1" -b "$1" -H "Origin: $BASE" \
    --data-urlencode "email=$2" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "csrf_token=$token" "$BASE/login"
}
sign_in "$jar" "$EMAIL"
sign_in "$user_jar" "$USER_EMAIL"

get() { curl -sf -c "$jar" -b "$jar" "$BASE$1"; }
next_of() { grep -o 'href="[^"]*" rel="next"' | head -1 | sed 's/href="//; s/" rel="next"//; s/&amp;/\&/g; s/&#38;/\&/g'; }
admin_id=$(get "/admin/users?q=$(printf %s "$EMAIL" | sed 's/@/%40/')" | grep -o 'href="/admin/users/[0-9a-f-]\{36\}"' | head -1 | sed 's/.*users\///; s/"//')
sessions_page2=$(get /admin/sessions | next_of)
audit_page2=$(get /admin/audit | next_of)
users_page2=$(get /admin/users | next_of)

pages=(
  "/admin"
  "/admin?chart=hours"
  "/admin/users"
  "$users_page2"
  "/admin/users?after=user0050000%40example.com"
  "/admin/users?q=user00123"
  "/admin/users?q=no-such-text"
  "/admin/users/$admin_id"
  "/admin/sessions"
  "$sessions_page2"
  "/admin/sessions?user=user0000042%40example.com"
  "/admin/audit"
  "$audit_page2"
  "/admin/audit?kind=refresh_reuse_detected"
  "/admin/audit?kind=user_disabled"
  "/admin/audit?user=user0000042%40example.com&kind=login_succeeded"
  "/account/sessions"
  "/account/security"
)
user_history2=$(curl -sf -c "$user_jar" -b "$user_jar" "$BASE/account/security" | next_of)
user_pages=(
  "/account/security"
  "$user_history2"
)
printf '%-72s %8s %8s\n' page "median" "max"
time_pages() { # jar pages...
  local j=$1 p
  shift
  for p in "$@"; do
    times=()
    for _ in $(seq "$RUNS"); do
      times+=("$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -c "$j" -b "$j" "$BASE$p")")
    done
    printf '%s\n' "${times[@]}" | awk -v p="$p" '
      $1 != 200 { bad = $1 }
      { t[NR] = $2 * 1000 }
      END {
        n = asort(t)
        if (bad) { printf "%-72s status %s\n", p, bad; exit }
        printf "%-72s %6.1f ms %6.1f ms\n", p, t[int((n + 1) / 2)], t[n]
      }'
  done
}
time_pages "$jar" "${pages[@]}"
echo "as $USER_EMAIL:"
time_pages "$user_jar" "${user_pages[@]}"
