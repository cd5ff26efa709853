package breaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestReplace(t *testing.T) {
	reg := newRegistry(t)
	old := mustRegister(t, reg, breaker.Config{Name: "dep", FailureThreshold: 1})
	mustRegister(t, reg, breaker.Config{Name: "other"})
	_ = old.Execute(context.Background(), fail)
	if old.State() != breaker.StateOpen {
		t.Fatal("not open")
	}
	b, err := reg.Replace(breaker.Config{Name: "dep", FailureThreshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Get("dep"); got != b || b.State() != breaker.StateClosed || b.Config().FailureThreshold != 3 {
		t.Errorf("after Replace: Get = %p (new %p), state %v, threshold %d", got, b, b.State(), b.Config().FailureThreshold)
	}
	if l := reg.List(); len(l) != 2 || l[0] != b || l[1].Config().Name != "other" {
		t.Errorf("List = %v", l)
	}
	if _, err := reg.Replace(breaker.Config{Name: "ghost"}); !errors.Is(err, breaker.ErrNotFound) {
		t.Errorf("Replace(ghost) = %v, want ErrNotFound", err)
	}
	if _, err := reg.Replace(breaker.Config{Name: "dep", Window: 1}); err == nil {
		t.Error("Replace with an invalid config succeeded")
	}
}
