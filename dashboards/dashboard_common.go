package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/mixin"
)

// Grafana colours used by thresholds and value mappings.
const (
	colorGreen  = "green"
	colorYellow = "yellow"
	colorRed    = "red"
	colorBlue   = "blue"
)

// Grafana units.
const (
	unitRatio   = "percentunit"
	unitMillis  = "ms"
	unitReqPerS = "reqps"
	unitCount   = "short"
)

// datasourceRef refers to the data source chosen in the $datasource variable.
// The SDK leaves panels and targets without a data source unless it is set.
func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + mixin.VarDatasource + "}")}
}

// dataquery is one Prometheus target, neither range nor instant yet. refID
// must be unique in its panel; the SDK sets none by itself.
func dataquery(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasourceRef()).
		RefId(refID).
		Expr(expr).
		LegendFormat(legend)
}

// prometheusQuery is a target evaluated over the time range.
func prometheusQuery(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return dataquery(refID, expr, legend).Range()
}

// instantQuery is a target evaluated once, at the end of the time range.
func instantQuery(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return dataquery(refID, expr, legend).Instant()
}

func gridPos(x, y, w, h uint32) dashboard.GridPos {
	return dashboard.GridPos{X: x, Y: y, W: w, H: h}
}

// row is a row header at height y.
func row(id uint32, title string, y uint32) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Id(id).GridPos(gridPos(0, y, 24, 1))
}

// step is one threshold step; the first step of a list has no value (base).
type step struct {
	value *float64
	color string
}

func base(color string) step          { return step{color: color} }
func at(v float64, color string) step { return step{value: cog.ToPtr(v), color: color} }
func thresholds(steps ...step) *dashboard.ThresholdsConfigBuilder {
	ts := make([]dashboard.Threshold, 0, len(steps))
	for _, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: s.value, Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// timeseriesPanel is a line chart whose thresholds, if any, are drawn as
// dashed lines: the same thresholds the alerts use.
func timeseriesPanel(id uint32, title, description, unit string, pos dashboard.GridPos, steps ...step) *timeseries.PanelBuilder {
	if len(steps) == 0 {
		steps = []step{base(colorGreen)}
	}
	mode := common.GraphThresholdsStyleModeOff
	if len(steps) > 1 {
		mode = common.GraphThresholdsStyleModeDashed
	}
	return timeseries.NewPanelBuilder().
		Id(id).
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		GridPos(pos).
		Unit(unit).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Thresholds(thresholds(steps...)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(mode)).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// statPanel shows one number, coloured by steps.
func statPanel(id uint32, title, description string, pos dashboard.GridPos, steps ...step) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Id(id).
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		GridPos(pos).
		Unit(unitCount).
		Decimals(0).
		Thresholds(thresholds(steps...)).
		ColorMode(common.BigValueColorModeBackground).
		// The SDK leaves it "", which Grafana's schema rejects.
		Orientation(common.VizOrientationAuto).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// valueText maps a value to a text and colour on state timelines.
type valueText struct {
	value, text, color string
}

func valueMappings(vs ...valueText) []dashboard.ValueMapping {
	opts := make(map[string]dashboard.ValueMappingResult, len(vs))
	for i, v := range vs {
		opts[v.value] = dashboard.ValueMappingResult{
			Text:  cog.ToPtr(v.text),
			Color: cog.ToPtr(v.color),
			Index: cog.ToPtr(int32(i)),
		}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// stateMappings colour the breaker states: closed green, half-open yellow, open red.
func stateMappings() []dashboard.ValueMapping {
	return valueMappings(
		valueText{"0", breaker.StateClosedValue, colorGreen},
		valueText{"1", breaker.StateHalfOpenValue, colorYellow},
		valueText{"2", breaker.StateOpenValue, colorRed},
	)
}

func stateTimelinePanel(id uint32, title, description string, pos dashboard.GridPos, mappings []dashboard.ValueMapping) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Id(id).
		Title(title).
		Description(description).
		Datasource(datasourceRef()).
		GridPos(pos).
		Mappings(mappings).
		Thresholds(thresholds(base(colorGreen))).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		RowHeight(0.9).
		FillOpacity(80).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderNone)).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true))
}
