package breaker_test

import (
	"context"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// lateProducer lets a test create the reader before the registry it reads.
type lateProducer struct{ reg **breaker.Registry }

func (p lateProducer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	if *p.reg == nil {
		return nil, nil
	}
	return (*p.reg).Producer().Produce(ctx)
}
