// Types that check a dashboard's JSON, written as a TypeScript object
// literal, against @grafana/schema. Written by hand; the generated
// circuit-breakers.gen.ts imports them (see dashboards/schema_test.go).

// Json<T> is T as JSON can spell it: a string enum becomes the union of its
// values (JSON has "auto", not VizOrientation.Auto), recursively.
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer U)[]
      ? Json<U>[]
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// Panel is the JSON of a panel whose plugin declares Options and FieldConfig
// (the panel's `options` and `fieldConfig.defaults.custom`). Grafana merges
// a panel's saved options over the plugin's defaults, so options may be
// partial; every value given must be valid, and no unknown key is allowed.
export type Panel<Options, FieldConfig> = Json<
  Omit<import('@grafana/schema').Panel<Options, FieldConfig>, 'options'> & {
    options?: Partial<Options>;
  }
>;

// Dashboard is the JSON of a classic dashboard. @grafana/schema's Dashboard
// leaves out two kinds of fields that Grafana stores and reads in that JSON:
// the Prometheus data source's fields of a classic annotation query (expr,
// step, titleFormat, textFormat, tagKeys, useValueForTime), and the
// `definition` (the query as shown in the editor) of a query variable. They
// are declared here; anything else unknown is an error.
export type Dashboard = Omit<Json<import('@grafana/schema').Dashboard>, 'annotations' | 'templating'> & {
  annotations?: {
    list?: (Json<import('@grafana/schema').AnnotationQuery> & PrometheusAnnotation)[];
  };
  templating?: {
    list?: (Json<import('@grafana/schema').VariableModel> & { definition?: string })[];
  };
};

interface PrometheusAnnotation {
  expr?: string;
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
}
