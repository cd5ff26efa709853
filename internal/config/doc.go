// Package config loads breakerwatch serve's configuration: a YAML file
// (listen address, admin token, breaker defaults and overrides, proxy routes)
// with environment variables layered on top.
//
// Loading never stops at the first mistake: Load and Apply return an *Error
// listing every problem, each with the file line or the environment variable
// it comes from. Breaker settings are checked by breaker.Config.Validate, so
// the rules are the library's own.
//
// Precedence, lowest first: built-in defaults, the file's defaults section,
// the file's per-breaker settings, environment variables. An environment
// variable that sets a breaker setting (CB_MODE, CB_FAILURE_THRESHOLD,
// CB_TIMEOUT_SECONDS, CIRCUIT_BREAKER_ENABLED) applies to every breaker, so
// one variable is a fleet-wide switch (CB_MODE=monitor rolls enforcement back
// without editing the file). An empty variable counts as unset.
package config
