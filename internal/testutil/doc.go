// Package testutil holds small helpers shared by breakerwatch's tests.
package testutil
