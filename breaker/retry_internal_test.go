package breaker

import (
	"testing"
	"time"
)

func TestRetryBackoffDoublesUpToTheCap(t *testing.T) {
	q := &RetryQueue[int]{opts: RetryOptions[int]{Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}}
	want := []time.Duration{10, 20, 40, 50, 50, 50}
	for i, w := range want {
		if got := q.backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff after attempt %d = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := q.backoff(1000); got != 50*time.Millisecond {
		t.Errorf("backoff after 1000 attempts = %v", got)
	}
}
