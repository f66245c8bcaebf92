package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The parts of Grafana's dashboard JSON model the tests read.
type dashboard struct {
	file       string
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID        string      `json:"refId"`
	Datasource   *datasource `json:"datasource"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// queryString is a variable's query: a string, or {"query": "..."} (Prometheus editor).
func (v variable) queryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &q) == nil {
		return q.Query
	}
	return ""
}

// Panels that query nothing and so need no datasource.
var noDatasourcePanels = []string{"row", "text", "news", "dashlist"}

// Grafana's own variables, which dashboards use without defining them.
var builtinVariables = []string{"__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms",
	"__range", "__range_s", "__range_ms", "__auto", "__from", "__to", "__timeFilter", "__dashboard",
	"__org", "__user", "__all"}

// The datasource kinds the dashboards use, by the datasource variable's plugin type.
var datasourceTypes = []string{"prometheus", "loki"}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("dashboards/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in dashboards/")
	var ds []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), "%s: not a JSON dashboard", f)
		d.file = f
		ds = append(ds, d)
	}
	return ds
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var ps []panel
	for _, p := range d.Panels {
		ps = append(ps, p)
		ps = append(ps, p.Panels...)
	}
	return ps
}

func (d dashboard) variable(name string) (variable, bool) {
	i := slices.IndexFunc(d.Templating.List, func(v variable) bool { return v.Name == name })
	if i < 0 {
		return variable{}, false
	}
	return d.Templating.List[i], true
}

// varRef matches Grafana's three variable syntaxes: $name, ${name} / ${name:format}, [[name]].
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]`)

// variableRefs returns the variable names s refers to.
func variableRefs(s string) []string {
	var names []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1]+m[2]+m[3])
	}
	return names
}

// Values the variables take when the tests run a panel's query for real: Grafana's interval
// variables as Grafana would set them for a short time range, "All" for multi-value variables.
var builtinValues = map[string]string{
	"__interval": "15s", "__auto": "15s", "__rate_interval": "1m", "__range": "10m",
}

// expand substitutes the dashboard's variables into a query as Grafana would with their
// defaults: the All value of multi-value variables, a text box's default.
func (d dashboard) expand(t *testing.T, q string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(q, func(ref string) string {
		name := variableRefs(ref)[0]
		if v, ok := builtinValues[name]; ok {
			return v
		}
		v, ok := d.variable(name)
		require.True(t, ok, "%s: query %q: variable %s is not defined", d.file, q, name)
		switch {
		case v.IncludeAll:
			return v.AllValue
		case v.Type == "textbox" || v.Type == "constant":
			return v.queryString()
		}
		t.Fatalf("%s: query %q: no test value for variable %s (type %s)", d.file, q, name, v.Type)
		return ""
	})
}

// TestDashboardStructure checks what Grafana needs to load the dashboards and what makes them
// work on any Grafana: unique uids and titles, unique panel ids and titles, every panel on a
// datasource variable, every variable a query uses defined.
func TestDashboardStructure(t *testing.T) {
	ds := loadDashboards(t)
	uids := map[string]string{}
	titles := map[string]string{}
	for _, d := range ds {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			require.NotEmpty(t, d.UID, "uid")
			require.LessOrEqual(t, len(d.UID), 40, "Grafana limits uids to 40 characters")
			require.Regexp(t, `^[A-Za-z0-9_-]+$`, d.UID)
			require.NotEmpty(t, d.Title, "title")
			require.NotContains(t, uids, d.UID, "uid %s also in %s", d.UID, uids[d.UID])
			require.NotContains(t, titles, d.Title, "title %q also in %s", d.Title, titles[d.Title])
			uids[d.UID], titles[d.Title] = d.file, d.file

			// Variables: unique; datasource variables of a known plugin type; query variables
			// on a datasource variable defined before them (Grafana resolves them in order).
			dsVars := map[string]string{} // datasource variable name -> plugin type
			seen := map[string]bool{}
			for _, v := range d.Templating.List {
				require.NotContains(t, seen, v.Name, "variable %s defined twice", v.Name)
				seen[v.Name] = true
				switch v.Type {
				case "datasource":
					typ := v.queryString()
					require.Contains(t, datasourceTypes, typ, "datasource variable %s: plugin type", v.Name)
					dsVars[v.Name] = typ
				case "query":
					require.NotNil(t, v.Datasource, "variable %s: datasource", v.Name)
					checkDatasourceRef(t, dsVars, *v.Datasource, "variable "+v.Name)
					require.NotEmpty(t, v.queryString(), "variable %s: query", v.Name)
					for _, ref := range variableRefs(v.queryString()) {
						require.True(t, seen[ref] || slices.Contains(builtinVariables, ref),
							"variable %s's query uses $%s, not defined before it", v.Name, ref)
					}
					if v.IncludeAll {
						require.NotEmpty(t, v.AllValue, "variable %s: an All value (a regex) keeps queries small", v.Name)
					}
				case "textbox", "constant", "custom", "interval":
				default:
					t.Errorf("variable %s: unexpected type %q", v.Name, v.Type)
				}
			}
			require.NotEmpty(t, dsVars, "no datasource variable")

			ids := map[int]string{}
			ptitles := map[string]int{}
			for _, p := range d.allPanels() {
				where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
				require.Positive(t, p.ID, "%s: id", where)
				require.NotContains(t, ids, p.ID, "%s: id also used by %q", where, ids[p.ID])
				ids[p.ID] = p.Title
				require.NotEmpty(t, p.Title, "%s: title", where)
				require.NotContains(t, ptitles, p.Title, "%s: title also used by panel %d", where, ptitles[p.Title])
				ptitles[p.Title] = p.ID
				for _, ref := range variableRefs(p.Title) {
					require.True(t, seen[ref], "%s: title uses undefined $%s", where, ref)
				}
				require.True(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X >= 0 && p.GridPos.X+p.GridPos.W <= 24,
					"%s: gridPos %+v outside the 24-column grid", where, p.GridPos)
				if slices.Contains(noDatasourcePanels, p.Type) {
					continue
				}
				require.NotNil(t, p.Datasource, "%s: no datasource", where)
				checkDatasourceRef(t, dsVars, *p.Datasource, where)
				require.NotEmpty(t, p.Targets, "%s: no query", where)
				refIDs := map[string]bool{}
				for _, tg := range p.Targets {
					require.NotEmpty(t, tg.RefID, "%s: a query without refId", where)
					require.False(t, refIDs[tg.RefID], "%s: refId %s twice", where, tg.RefID)
					refIDs[tg.RefID] = true
					if tg.Datasource != nil {
						require.Equal(t, *p.Datasource, *tg.Datasource, "%s: query %s on another datasource than its panel", where, tg.RefID)
					}
					require.NotEmpty(t, strings.TrimSpace(tg.Expr), "%s: query %s is empty", where, tg.RefID)
					for _, ref := range variableRefs(tg.Expr) {
						require.True(t, seen[ref] || slices.Contains(builtinVariables, ref),
							"%s: query %s uses undefined $%s", where, tg.RefID, ref)
					}
				}
			}
			checkNoOverlap(t, d)
		})
	}
}

// checkDatasourceRef requires ref to name a datasource variable of its own plugin type.
func checkDatasourceRef(t *testing.T, dsVars map[string]string, ref datasource, where string) {
	t.Helper()
	names := variableRefs(ref.UID)
	require.Len(t, names, 1, "%s: datasource uid %q is not a datasource variable (${datasource}, ${loki})", where, ref.UID)
	require.Equal(t, "${"+names[0]+"}", ref.UID, "%s: datasource uid", where)
	typ, ok := dsVars[names[0]]
	require.True(t, ok, "%s: datasource ${%s} is not a datasource variable defined before it", where, names[0])
	require.Equal(t, typ, ref.Type, "%s: datasource type", where)
}

// checkNoOverlap requires the panels' grid cells not to overlap: Grafana would move them.
func checkNoOverlap(t *testing.T, d dashboard) {
	t.Helper()
	cells := map[[2]int]int{}
	for _, p := range d.Panels {
		for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
			for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
				other, taken := cells[[2]int{x, y}]
				require.False(t, taken, "panel %d %q overlaps panel %d at x=%d y=%d", p.ID, p.Title, other, x, y)
				cells[[2]int{x, y}] = p.ID
			}
		}
	}
}

// TestDashboardsAreFormatted keeps the files as Grafana's "Export" writes them (two-space JSON),
// so that a change made in Grafana and exported again diffs only where it changed.
func TestDashboardsAreFormatted(t *testing.T) {
	for _, d := range loadDashboards(t) {
		b, err := os.ReadFile(d.file)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, json.Indent(&out, b, "", "  "))
		require.Equal(t, string(b), out.String(), "%s: not indented with two spaces", d.file)
	}
}

// Grafana's provisioning file formats, the fields used here (unknown fields fail).
type datasourceProvisioning struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		UID       string         `yaml:"uid"`
		Type      string         `yaml:"type"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		Editable  bool           `yaml:"editable"`
		IsDefault bool           `yaml:"isDefault"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type dashboardProvisioning struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Folder                string `yaml:"folder"`
		FolderUID             string `yaml:"folderUid"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func decodeStrict(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), file)
}

// TestProvisioning checks the provisioning files: one Prometheus and one Loki datasource, whose
// uids are the dashboards' default choices, and one file provider.
func TestProvisioning(t *testing.T) {
	var dsp datasourceProvisioning
	decodeStrict(t, "provisioning/datasources/otelsec.yaml", &dsp)
	require.Equal(t, 1, dsp.APIVersion)
	byType := map[string]string{} // plugin type -> uid
	for _, ds := range dsp.Datasources {
		require.NotEmpty(t, ds.Name)
		require.NotEmpty(t, ds.UID)
		require.Equal(t, "proxy", ds.Access, ds.Name)
		require.Regexp(t, `^\$\{[A-Z_]+\}$`, ds.URL, "%s: the URL comes from Grafana's environment", ds.Name)
		require.NotContains(t, byType, ds.Type, "two %s datasources", ds.Type)
		byType[ds.Type] = ds.UID
	}
	keys := make([]string, 0, len(byType))
	for k := range byType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.Equal(t, []string{"loki", "prometheus"}, keys)

	// Each dashboard's datasource variables default to the provisioned datasource.
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				require.Equal(t, byType[v.queryString()], v.Current.Value, "%s: variable %s's default", d.file, v.Name)
			}
		}
	}

	var dbp dashboardProvisioning
	decodeStrict(t, "provisioning/dashboards/otelsec.yaml", &dbp)
	require.Equal(t, 1, dbp.APIVersion)
	require.Len(t, dbp.Providers, 1)
	p := dbp.Providers[0]
	require.Equal(t, "file", p.Type)
	require.True(t, filepath.IsAbs(p.Options.Path), "provider path %q", p.Options.Path)
	require.NotEmpty(t, p.Folder)
}
