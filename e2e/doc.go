// Package e2e holds the end-to-end test of the whole stack: the breakerwatch
// binary in front of upstreams the test controls, the real Prometheus
// scraping it with the generated rules, and the real Alertmanager delivering
// notifications to a webhook served by the test.
package e2e
