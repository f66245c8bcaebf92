package grafana

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	labelFilterOps = []string{"=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="}
	lineFilterOps  = []string{"|=", "|~", "!=", "!~"}
	// Parser stages that turn the line into labels; the dashboards do not need them (OTLP
	// attributes arrive as structured metadata), so only json/logfmt without parameters pass.
	parserStages = []string{"json", "logfmt", "unpack", "decolorize"}
	templateRef  = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)`)
	templateBare = regexp.MustCompile(`\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)
)

// logqlNames returns the labels a LogQL query reads (stream selector, label filters, grouping,
// unwrap, keep/drop, templates) and those it makes (label_format).
func logqlNames(q string) (*names, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	n := newNames()
	at := func(i int) token {
		if i < len(toks) {
			return toks[i]
		}
		return token{kind: tOp, s: "<end>"}
	}
	depth := 0
	selectors := 0
	for i := 0; i < len(toks); {
		tk := toks[i]
		switch {
		case tk.is("{"):
			if i, err = matchers(toks, i, n); err != nil {
				return nil, err
			}
			selectors++
			continue
		case tk.is("["):
			for i < len(toks) && !toks[i].is("]") {
				i++
			}
			if i == len(toks) {
				return nil, fmt.Errorf("unclosed [")
			}
		case tk.is("("):
			depth++
		case tk.is(")"):
			if depth == 0 {
				return nil, fmt.Errorf("unbalanced parentheses")
			}
			depth--
		case tk.kind == tOp && slices.Contains(lineFilterOps, tk.s):
			// line filter: op "text" (or "text")*
			i++
			for {
				if at(i).kind != tString {
					return nil, fmt.Errorf("line filter %s without a string", tk.s)
				}
				if at(i+1).s != "or" {
					break
				}
				i += 2
			}
		case tk.is("|"):
			stage := at(i + 1)
			if stage.kind != tIdent {
				return nil, fmt.Errorf("| followed by %q", stage.s)
			}
			i += 2
			switch {
			case slices.Contains(parserStages, stage.s):
				continue
			case stage.s == "line_format":
				if at(i).kind != tString {
					return nil, fmt.Errorf("line_format without a template")
				}
				templateNames(at(i).s, n)
			case stage.s == "label_format":
				for {
					if at(i).kind != tIdent || !at(i+1).is("=") {
						return nil, fmt.Errorf("bad label_format")
					}
					n.created[at(i).s] = true
					if v := at(i + 2); v.kind == tIdent {
						n.labels[v.s] = true
					} else if v.kind == tString {
						templateNames(v.s, n)
					} else {
						return nil, fmt.Errorf("bad label_format value %q", v.s)
					}
					i += 3
					if !at(i).is(",") {
						break
					}
					i++
				}
				continue
			case stage.s == "keep" || stage.s == "drop":
				for at(i).kind == tIdent {
					n.labels[at(i).s] = true
					i++
					if !at(i).is(",") {
						break
					}
					i++
				}
				continue
			case stage.s == "unwrap":
				if at(i + 1).is("(") { // bytes(x), duration(x), duration_seconds(x)
					i += 2
				}
				if at(i).kind != tIdent {
					return nil, fmt.Errorf("unwrap without a label")
				}
				n.labels[at(i).s] = true
				if at(i + 1).is(")") {
					i++
				}
			default: // label filter expression: name op value ((and|or|,) name op value)*
				i-- // back to the label name
				for {
					name, op, val := at(i), at(i+1), at(i+2)
					if name.kind != tIdent || op.kind != tOp || !slices.Contains(labelFilterOps, op.s) {
						return nil, fmt.Errorf("bad label filter at %q %q", name.s, op.s)
					}
					n.labels[name.s] = true
					switch {
					case val.kind == tString || val.kind == tNumber:
						n.matches[name.s] = append(n.matches[name.s], match{op.s, val.s})
						i += 3
					case val.kind == tIdent && val.s == "ip" && at(i+3).is("(") && at(i+4).kind == tString && at(i+5).is(")"):
						i += 6
					default:
						return nil, fmt.Errorf("bad label filter value for %s: %q", name.s, val.s)
					}
					if s := at(i).s; s != "and" && s != "or" && s != "," {
						break
					}
					i++
				}
				continue
			}
		case tk.kind == tIdent && slices.Contains(labelListKeywords[:2], tk.s): // by, without
			if i, err = labelList(toks, i+1, n); err != nil {
				return nil, err
			}
			continue
		case tk.kind == tIdent && at(i+1).is("("): // range or vector aggregation, function
		case tk.kind == tIdent && (at(i+1).s == "by" || at(i+1).s == "without"): // sum by (x) (...)
		case tk.kind == tIdent && slices.Contains([]string{"and", "or", "unless", "bool", "offset"}, tk.s):
		case tk.kind == tNumber || tk.is(",") || tk.kind == tOp && slices.Contains([]string{"+", "-", "*", "/", "%", "^", "==", ">", "<", ">=", "<="}, tk.s):
		default:
			return nil, fmt.Errorf("unexpected %q", tk.s)
		}
		i++
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses")
	}
	if selectors == 0 {
		return nil, fmt.Errorf("no stream selector")
	}
	return n, nil
}

// templateNames adds the labels a line_format / label_format template reads.
func templateNames(tmpl string, n *names) {
	for _, m := range templateRef.FindAllStringSubmatch(tmpl, -1) {
		n.labels[m[1]] = true
	}
	for _, m := range templateBare.FindAllStringSubmatch(tmpl, -1) {
		if m[1] != "__line__" && m[1] != "__timestamp__" {
			n.labels[m[1]] = true
		}
	}
}

func TestLogQLNames(t *testing.T) {
	for _, tc := range []struct {
		q               string
		labels, created []string
	}{
		{q: `{service_name="otelsec"} | host_name=~".*" | event_name="process.exec" |= "curl"`,
			labels: []string{"event_name", "host_name", "service_name"}},
		{q: `sum by (k8s_namespace_name) (count_over_time({a="b"} | x!="" or y="true" [15s]))`,
			labels: []string{"a", "k8s_namespace_name", "x", "y"}},
		{q: `topk(15, sum by (p, q) (sum_over_time({a="b"} != "x" or "y" | unwrap bytes(z) [10m])))`,
			labels: []string{"a", "p", "q", "z"}},
		{q: `{a="b"} | line_format "{{.ns}}/{{ .pod }} {{__line__}}" | label_format dst=src, t="{{.u}}" | keep dst, v`,
			labels: []string{"a", "dst", "ns", "pod", "src", "u", "v"}, created: []string{"dst", "t"}},
		{q: `count(sum by (r) (count_over_time({a="b"} | json | n > 3 and m == 2 [1m]))) > 0`,
			labels: []string{"a", "m", "n", "r"}},
		{q: `{a="b"} | addr = ip("10.0.0.0/8")`, labels: []string{"a", "addr"}},
		// {{ name }} is not how a template reads a label; it is reported as one, so a typo fails
		// the field checks rather than passing unseen.
		{q: `{a="b"} | line_format "{{ name }} {{__line__}}"`, labels: []string{"a", "name"}},
	} {
		n, err := logqlNames(tc.q)
		require.NoError(t, err, tc.q)
		require.Equal(t, tc.labels, sorted(n.labels), "labels of %s", tc.q)
		require.Equal(t, tc.created, nilIfEmpty(sorted(n.created)), "created labels of %s", tc.q)
	}
	for _, bad := range []string{
		`count_over_time(x[1m])`,           // no selector: a bare name
		`{a="b"} | x`,                      // filter without operator
		`{a="b"} |= x`,                     // line filter without string
		`sum(count_over_time({a="b"}[1m])`, // unbalanced
		`{a="b"} | regexp "(?P<n>.*)"`,     // unsupported stage
		`{a="b"} | line_format`,            // no template
	} {
		_, err := logqlNames(bad)
		require.Error(t, err, bad)
	}
}
