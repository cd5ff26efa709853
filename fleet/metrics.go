package fleet

import (
	"context"
	"fmt"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/fleet/fleetnames"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

type instruments struct {
	garbage metric.Int64Counter
	replica attribute.KeyValue
	opt     metric.MeasurementOption
}

// initMetrics creates the fleet's instruments once: observable gauges read
// the loop's latest view at collection; nothing is recorded on the call path.
func (f *Fleet) initMetrics(mp metric.MeterProvider) error {
	m := mp.Meter(breaker.ScopeName)
	replica := attribute.String(fleetnames.LabelReplica, f.o.Instance)
	ins := &instruments{replica: replica, opt: metric.WithAttributeSet(attribute.NewSet(replica))}
	var err error
	wrap := func(e error) error { return fmt.Errorf("fleet: creating instruments: %w", e) }
	connected, err := m.Int64ObservableGauge(fleetnames.MetricConnected,
		metric.WithDescription("1 while this replica exchanges evidence with the fleet's Redis, 0 while it decides alone."))
	if err != nil {
		return wrap(err)
	}
	members, err := m.Int64ObservableGauge(fleetnames.MetricMembers,
		metric.WithDescription("Live replicas this replica sees in the fleet, itself included."))
	if err != nil {
		return wrap(err)
	}
	openReplicas, err := m.Int64ObservableGauge(fleetnames.MetricOpenReplicas,
		metric.WithDescription("Live replicas that report the breaker open."))
	if err != nil {
		return wrap(err)
	}
	fleetOpen, err := m.Int64ObservableGauge(fleetnames.MetricFleetOpen,
		metric.WithDescription("1 while a fleet-wide open decision applies to the breaker on this replica."))
	if err != nil {
		return wrap(err)
	}
	if ins.garbage, err = m.Int64Counter(fleetnames.MetricGarbage,
		metric.WithDescription("Values read from the fleet's Redis that failed their checks and were ignored.")); err != nil {
		return wrap(err)
	}
	// Exported at 0 from the start, so that its rate is 0, not absent,
	// until a value is ignored.
	ins.garbage.Add(context.Background(), 0, ins.opt)
	f.ins = ins
	f.gauges, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var c int64
		if f.connected.Load() {
			c = 1
		}
		o.ObserveInt64(connected, c, ins.opt)
		o.ObserveInt64(members, c*f.members.Load(), ins.opt)
		for _, bs := range f.Status().Breakers {
			set := metric.WithAttributeSet(attribute.NewSet(attribute.String(breaker.LabelName, bs.Name), replica))
			o.ObserveInt64(openReplicas, int64(len(bs.OpenReplicas)), set)
			var open int64
			if bs.FleetOpen {
				open = 1
			}
			o.ObserveInt64(fleetOpen, open, set)
		}
		return nil
	}, connected, members, openReplicas, fleetOpen)
	if err != nil {
		return wrap(err)
	}
	return nil
}
