// Package ui serves breakerwatch's live status page: one HTML page, a
// stylesheet and a script, embedded in the binary (no build step, nothing
// loaded from elsewhere). The page reads the admin API's /events stream,
// /history and /series (exporter.LiveOptions) and calls its mutations for
// its actions, so it needs the admin API at exporter.AdminPathPrefix on the
// same host. docs/status-page.md describes it.
package ui
