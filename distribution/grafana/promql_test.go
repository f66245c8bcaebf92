package grafana

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// A small lexer for the query languages of the panels, PromQL and LogQL, enough to find the
// metric and label names a query uses. (Prometheus's own parser lives in a module far too large
// to add to this repository for a test; the real Prometheus still parses every query in
// TestPanelsQueryExportedMetrics.)

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber // numbers and durations
	tOp     // punctuation and operators
)

type token struct {
	kind tokKind
	s    string // for tString: the unquoted value
}

func (t token) is(op string) bool { return t.kind == tOp && t.s == op }

var twoCharOps = []string{"=~", "!~", "!=", "==", "<=", ">=", "|=", "|~"}

func lex(q string) ([]token, error) {
	var toks []token
	r := []rune(q)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(r) && (r[j] == '_' || r[j] == ':' || unicode.IsLetter(r[j]) || unicode.IsDigit(r[j])) {
				j++
			}
			toks = append(toks, token{tIdent, string(r[i:j])})
			i = j
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(r) && unicode.IsDigit(r[i+1])):
			j := i + 1
			for j < len(r) && (r[j] == '.' || r[j] == '_' || unicode.IsLetter(r[j]) || unicode.IsDigit(r[j])) {
				j++
			}
			toks = append(toks, token{tNumber, string(r[i:j])})
			i = j
		case c == '"' || c == '\'' || c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != c; j++ {
				if r[j] == '\\' && c != '`' && j+1 < len(r) {
					j++
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			toks = append(toks, token{tString, b.String()})
			i = j + 1
		default:
			if i+1 < len(r) && slices.Contains(twoCharOps, string(r[i:i+2])) {
				toks = append(toks, token{tOp, string(r[i : i+2])})
				i += 2
				continue
			}
			if !strings.ContainsRune("{}()[],=<>+-*/%^@:|!", c) {
				return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
			}
			toks = append(toks, token{tOp, string(c)})
			i++
		}
	}
	return toks, nil
}

// names collects what a query uses.
type names struct {
	metrics map[string]bool
	labels  map[string]bool    // labels the query reads (matchers, by/without/on/ignoring, sources)
	created map[string]bool    // labels the query makes (label_replace / label_join destinations)
	matches map[string][]match // how each label is matched: operator and value (or regex)
}

type match struct{ op, val string }

// selects returns the values of names' positive equality and regex matches of label that s
// satisfies (regexes anchored, as PromQL and LogQL anchor them), and whether label has any.
func (n *names) selects(label string, s string) (selected, constrained bool) {
	selected = true
	for _, m := range n.matches[label] {
		switch m.op {
		case "=", "==":
			constrained = true
			selected = selected && s == m.val
		case "=~":
			constrained = true
			re, err := regexp.Compile("^(?:" + m.val + ")$")
			selected = selected && err == nil && re.MatchString(s)
		}
	}
	return selected && constrained, constrained
}

func newNames() *names {
	return &names{metrics: map[string]bool{}, labels: map[string]bool{}, created: map[string]bool{},
		matches: map[string][]match{}}
}

func sorted(m map[string]bool) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

var matchOps = []string{"=", "!=", "=~", "!~"}

var promKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"}

// labelListKeywords take a parenthesized list of label names.
var labelListKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// matchers reads a {...} selector starting at toks[i] == "{"; it returns the index after "}".
func matchers(toks []token, i int, n *names) (int, error) {
	i++
	for i < len(toks) && !toks[i].is("}") {
		switch {
		case toks[i].is(","):
			i++
		case toks[i].kind == tIdent || toks[i].kind == tString: // {"name"="v"} quoted names too
			if i+2 >= len(toks) || toks[i+1].kind != tOp || !slices.Contains(matchOps, toks[i+1].s) || toks[i+2].kind != tString {
				return 0, fmt.Errorf("bad matcher at %q", toks[i].s)
			}
			if toks[i].s == "__name__" {
				n.metrics[toks[i+2].s] = true
			} else {
				n.labels[toks[i].s] = true
				n.matches[toks[i].s] = append(n.matches[toks[i].s], match{toks[i+1].s, toks[i+2].s})
			}
			i += 3
		default:
			return 0, fmt.Errorf("bad selector at %q", toks[i].s)
		}
	}
	if i >= len(toks) {
		return 0, fmt.Errorf("unclosed {")
	}
	return i + 1, nil
}

// labelList reads "( a, b )" starting at toks[i] == "("; it returns the index after ")".
func labelList(toks []token, i int, n *names) (int, error) {
	if i >= len(toks) || !toks[i].is("(") {
		return 0, fmt.Errorf("label list without (")
	}
	for i++; i < len(toks) && !toks[i].is(")"); i++ {
		switch {
		case toks[i].kind == tIdent:
			n.labels[toks[i].s] = true
		case toks[i].is(","):
		default:
			return 0, fmt.Errorf("bad label list at %q", toks[i].s)
		}
	}
	if i >= len(toks) {
		return 0, fmt.Errorf("unclosed label list")
	}
	return i + 1, nil
}

// promqlNames returns the metric and label names a PromQL query uses.
func promqlNames(q string) (*names, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	n := newNames()
	// Open calls of label_replace / label_join: their paren depth and string arguments so far.
	type call struct {
		fn    string
		depth int
		args  []string
	}
	var calls []*call
	depth := 0
	for i := 0; i < len(toks); {
		tk := toks[i]
		next := func(op string) bool { return i+1 < len(toks) && toks[i+1].is(op) }
		switch {
		case tk.is("{"):
			if i, err = matchers(toks, i, n); err != nil {
				return nil, err
			}
			continue
		case tk.is("["): // range or subquery: durations only
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
			if len(calls) > 0 && calls[len(calls)-1].depth == depth {
				c := calls[len(calls)-1]
				calls = calls[:len(calls)-1]
				if len(c.args) < 3 {
					return nil, fmt.Errorf("%s with %d string arguments", c.fn, len(c.args))
				}
				n.created[c.args[0]] = true
				// label_join(v, dst, separator, src...); label_replace(v, dst, replacement, src, regex)
				srcs := c.args[2:]
				if c.fn == "label_replace" {
					if len(c.args) != 4 {
						return nil, fmt.Errorf("label_replace with %d string arguments", len(c.args))
					}
					srcs = c.args[2:3]
				}
				for _, s := range srcs {
					if s != "" {
						n.labels[s] = true
					}
				}
			}
			depth--
		case tk.kind == tString:
			if len(calls) > 0 && calls[len(calls)-1].depth == depth {
				c := calls[len(calls)-1]
				c.args = append(c.args, tk.s)
			}
		case tk.kind == tIdent && slices.Contains(labelListKeywords, tk.s):
			if next("(") {
				if i, err = labelList(toks, i+1, n); err != nil {
					return nil, err
				}
				continue
			}
			if tk.s != "group_left" && tk.s != "group_right" {
				return nil, fmt.Errorf("%s without a label list", tk.s)
			}
		case tk.kind == tIdent && i+1 < len(toks) && (toks[i+1].s == "by" || toks[i+1].s == "without"):
			// an aggregation with its grouping first: sum by (a) (...)
		case tk.kind == tIdent && next("("): // function or aggregation
			if tk.s == "label_replace" || tk.s == "label_join" {
				calls = append(calls, &call{fn: tk.s, depth: depth + 1})
			}
		case tk.kind == tIdent && slices.Contains(promKeywords, tk.s):
		case tk.kind == tIdent:
			n.metrics[tk.s] = true
		}
		i++
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses")
	}
	return n, nil
}

func TestPromQLNames(t *testing.T) {
	for _, tc := range []struct {
		q                        string
		metrics, labels, created []string
	}{
		{q: `sum(rate(otelsec_events_total{host_name=~".*"}[1m]))`,
			metrics: []string{"otelsec_events_total"}, labels: []string{"host_name"}},
		{q: `sum by (family) (label_replace(rate(a_total{x="1"}[5m]), "family", "$1", "otelsec_event_name", "([^.]+)[.].*"))`,
			metrics: []string{"a_total"}, labels: []string{"family", "otelsec_event_name", "x"}, created: []string{"family"}},
		{q: `max by (h, e) (q_size{h=~"a|b"}) / on (h) group_left (e) max without (z) (q_cap)`,
			metrics: []string{"q_cap", "q_size"}, labels: []string{"e", "h", "z"}},
		{q: `{__name__="m1", job!="x"} offset 5m + m2:rate5m[10m:1m] > bool 0.5`,
			metrics: []string{"m1", "m2:rate5m"}, labels: []string{"job"}},
		{q: `count(count by (host_name) (up))`, metrics: []string{"up"}, labels: []string{"host_name"}},
		{q: `topk(15, sum(increase(x_total[10m])))`, metrics: []string{"x_total"}},
		{q: `label_join(m, "dst", ",", "a", "b")`, metrics: []string{"m"}, labels: []string{"a", "b"}, created: []string{"dst"}},
	} {
		n, err := promqlNames(tc.q)
		require.NoError(t, err, tc.q)
		require.Equal(t, tc.metrics, sorted(n.metrics), "metrics of %s", tc.q)
		require.Equal(t, tc.labels, nilIfEmpty(sorted(n.labels)), "labels of %s", tc.q)
		require.Equal(t, tc.created, nilIfEmpty(sorted(n.created)), "created labels of %s", tc.q)
	}
	for _, bad := range []string{`sum(rate(x[1m])`, `x{a=}`, `x{a="b"`, `sum by x`, `x{a="b}`, `x ; y`, `rate(x[1m)`, `x) + (y`} {
		_, err := promqlNames(bad)
		require.Error(t, err, bad)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
